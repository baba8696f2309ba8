using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;

[assembly: DeviceKind("pvmemcontrol")]

namespace PluginVmm.Plugins.PvMemControl;

/// <summary>Entry point of the pvmemcontrol plugin.</summary>
public sealed class PvMemControlPlugin : DevicePlugin<NoOptions>
{
    /// <inheritdoc/>
    public override string Kind => "pvmemcontrol";

    /// <inheritdoc/>
    public override string Description => "pvmemcontrol (PCI 1ae0:0087): guest control over the host backing of its RAM";

    /// <inheritdoc/>
    protected override IPciDevice Create(NoOptions options, IDeviceContext context) => new PvMemControlDevice(context);
}
