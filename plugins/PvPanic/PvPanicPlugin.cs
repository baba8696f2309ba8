using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;

[assembly: DeviceKind("pvpanic")]

namespace PluginVmm.Plugins.PvPanic;

/// <summary>Entry point of the pvpanic plugin.</summary>
public sealed class PvPanicPlugin : DevicePlugin<NoOptions>
{
    /// <inheritdoc/>
    public override string Kind => "pvpanic";

    /// <inheritdoc/>
    public override string Description => "pvpanic PCI device (1b36:0011): reports guest panics to the host";

    /// <inheritdoc/>
    protected override IPciDevice Create(NoOptions options, IDeviceContext context) => new PvPanicDevice(context);
}
