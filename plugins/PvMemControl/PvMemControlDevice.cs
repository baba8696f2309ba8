using PluginVmm.Sdk.Diagnostics;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;

namespace PluginVmm.Plugins.PvMemControl;

/// <summary>
/// pvmemcontrol's PCI function: BAR0 is the 16-byte transport (payload at 0..7, command at 8..11). The request
/// protocol is not implemented yet: reads return zero, writes are dropped, and the first access is logged.
/// </summary>
internal sealed class PvMemControlDevice : PciDevice
{
    private const ulong TransportSize = 16;
    private readonly OnceWarning _notFunctional;

    public PvMemControlDevice(IDeviceContext context) : base(BuildConfiguration())
    {
        _notFunctional = new OnceWarning(context.Logger,
            $"{context.Name}: the pvmemcontrol request protocol is not functional yet; BAR0 reads zero and writes are dropped");
    }

    private static PciConfiguration BuildConfiguration()
    {
        var config = new PciConfiguration(0x1AE0, 0x0087, classCode: 0x08, subclass: 0x80, revision: 1,
            subsystemVendorId: 0x1AE0, subsystemId: 0x011F);
        config.AddBar(new PciBarSpec(0, TransportSize, PciBarKind.Memory32));
        return config;
    }

    public override void ReadBar(int index, ulong offset, Span<byte> data)
    {
        data.Clear();
        _notFunctional.Hit($"read at BAR{index}+0x{offset:x}");
    }

    public override void WriteBar(int index, ulong offset, ReadOnlySpan<byte> data) =>
        _notFunctional.Hit($"write at BAR{index}+0x{offset:x}");
}
