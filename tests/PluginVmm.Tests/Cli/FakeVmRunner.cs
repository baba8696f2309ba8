using Microsoft.Extensions.Logging;
using PluginVmm.Core.Config;
using PluginVmm.Core.Hosting;
using PluginVmm.Core.Plugins;

namespace PluginVmm.Tests.Cli;

/// <summary>Stands in for the KVM runner: records what it was given and returns a chosen exit code or throws.</summary>
internal sealed class FakeVmRunner(int exitCode = 0, Exception? failure = null) : IVmRunner
{
    public List<VmConfig> Runs { get; } = [];

    public PluginCatalog? Catalog { get; private set; }

    public int Run(VmConfig config, PluginCatalog catalog, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        Runs.Add(config);
        Catalog = catalog;
        if (failure is not null) throw failure;
        return exitCode;
    }
}
