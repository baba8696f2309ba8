using Microsoft.Extensions.Logging;
using PluginVmm.Core.Config;
using PluginVmm.Core.Plugins;

namespace PluginVmm.Core.Hosting;

/// <summary>
/// Creates and runs one VM from a validated configuration. This is the first point where /dev/kvm is opened:
/// everything before it (config, plugins) has been checked and reported with exit code 2.
/// </summary>
public interface IVmRunner
{
    /// <summary>Runs the VM until it ends and returns the process exit code (see <see cref="ExitCodes"/>).</summary>
    /// <param name="config">Validated configuration; devices are bound to their plugins.</param>
    /// <param name="catalog">The loaded plugins (also holds the service provider they were created from).</param>
    /// <param name="loggerFactory">The host's logging (console, stderr).</param>
    /// <param name="cancellationToken">Signalled on SIGINT/SIGTERM: stop the VM and return.</param>
    int Run(VmConfig config, PluginCatalog catalog, ILoggerFactory loggerFactory, CancellationToken cancellationToken);
}
