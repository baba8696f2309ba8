using Microsoft.Extensions.Logging;
using PluginVmm.Core.Config;
using PluginVmm.Core.Plugins;

namespace PluginVmm.Core.Hosting;

/// <summary>Stand-in until the KVM runner is wired into Program.cs; `vmm run` reports it as a VMM error.</summary>
public sealed class PendingVmRunner : IVmRunner
{
    /// <inheritdoc/>
    public int Run(VmConfig config, PluginCatalog catalog, ILoggerFactory loggerFactory, CancellationToken cancellationToken) =>
        throw new NotImplementedException("running a VM is not wired into this build yet");
}
