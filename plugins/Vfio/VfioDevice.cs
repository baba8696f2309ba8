using PluginVmm.Sdk.Diagnostics;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;

namespace PluginVmm.Plugins.Vfio;

/// <summary>
/// The guest-visible function of a passed-through device: its identity and BAR layout mirror the host device
/// (read from sysfs), with BARs shadowed in our own config space so relocation and rollback are the core's.
/// Forwarding config, BAR and interrupt traffic through VFIO is not implemented yet: BAR reads return zero,
/// writes are dropped, and the first access is logged.
/// </summary>
internal sealed class VfioDevice : PciDevice
{
    private readonly OnceWarning _notFunctional;

    public VfioDevice(IDeviceContext context, HostPciDevice host) : base(BuildConfiguration(host))
    {
        _notFunctional = new OnceWarning(context.Logger,
            $"{context.Name}: VFIO forwarding is not functional yet; BAR accesses read zero and writes are dropped");
    }

    private static PciConfiguration BuildConfiguration(HostPciDevice host)
    {
        byte[] h = host.ReadHeader();
        var config = new PciConfiguration(HostPciDevice.U16(h, 0), HostPciDevice.U16(h, 2), classCode: h[0x0B],
            subclass: h[0x0A], progIf: h[0x09], revision: h[0x08],
            subsystemVendorId: HostPciDevice.U16(h, 0x2C), subsystemId: HostPciDevice.U16(h, 0x2E));
        foreach (var bar in host.ReadBars()) config.AddBar(bar);
        return config;
    }

    public override void ReadBar(int index, ulong offset, Span<byte> data)
    {
        data.Clear();
        _notFunctional.Hit($"read at {PciBarIndex.Name(index)}+0x{offset:x}");
    }

    public override void WriteBar(int index, ulong offset, ReadOnlySpan<byte> data) =>
        _notFunctional.Hit($"write at {PciBarIndex.Name(index)}+0x{offset:x}");
}
