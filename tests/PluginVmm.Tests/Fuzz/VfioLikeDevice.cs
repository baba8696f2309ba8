using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Resources;

namespace PluginVmm.Tests.Fuzz;

/// <summary>
/// Stand-in for the VFIO plugin's device, which reads its layout from a host device in sysfs: the same kind of
/// function (a <see cref="PciDevice"/> shadowing a host NIC's BARs), with every BAR kind at once — a 32-bit BAR, an
/// I/O BAR, a 64-bit prefetchable BAR holding the MSI-X table and PBA (emulated by the SDK's <see cref="MsixTable"/>)
/// and a memory slot, an expansion ROM — and an ioeventfd in the I/O BAR, so PIO resources move with a BAR too.
/// </summary>
public sealed class VfioLikeDevice : PciDevice, IDisposable
{
    public const int MmioBar = 0, IoBar = 1, MsixBar = 2;
    public const ulong MsixPbaOffset = 0x2000, SlotOffset = 0x3000;
    public const int Vectors = 5;

    private readonly IDisposable _slot;
    private readonly IIoEvent _doorbell;

    public VfioLikeDevice(IDeviceContext context) : base(BuildConfiguration(out int msix))
    {
        MsixCapabilityOffset = msix;
        Msix = new MsixTable(Vectors, context.Interrupts.CreateMsiGroup(Vectors));
        _slot = context.BarResources.MapIntoBar(MsixBar, SlotOffset, context.BarResources.MapFile("/nonexistent/vfio-like", 0x1000));
        _doorbell = context.BarResources.AddIoEvent(IoBar, 0, 4);
    }

    public int MsixCapabilityOffset { get; }

    public MsixTable Msix { get; }

    private static PciConfiguration BuildConfiguration(out int msix)
    {
        var config = new PciConfiguration(0x8086, 0x10D3, classCode: 0x02, subclass: 0x00, revision: 1, interruptPin: 1);
        config.AddBar(new PciBarSpec(MmioBar, 0x2_0000, PciBarKind.Memory32));
        config.AddBar(new PciBarSpec(IoBar, 0x20, PciBarKind.Io));
        config.AddBar(new PciBarSpec(MsixBar, 0x4000, PciBarKind.Memory64, Prefetchable: true));
        config.AddBar(new PciBarSpec(PciBarIndex.Rom, 0x1_0000, PciBarKind.Rom));
        msix = PciCapabilities.AddMsix(config, Vectors, MsixBar, 0, (uint)MsixPbaOffset);
        return config;
    }

    public override void ReadBar(int index, ulong offset, Span<byte> data)
    {
        data.Clear();
        if (index != MsixBar) return;
        if (offset < MsixPbaOffset) Msix.ReadTable(offset, data);
        else if (offset < SlotOffset) Msix.ReadPba(offset - MsixPbaOffset, data);
    }

    public override void WriteBar(int index, ulong offset, ReadOnlySpan<byte> data)
    {
        if (index == MsixBar && offset < MsixPbaOffset) Msix.WriteTable(offset, data);
    }

    protected override void OnConfigWritten(int register, int offset, ReadOnlySpan<byte> data)
    {
        if (register == MsixCapabilityOffset / 4) Msix.SyncFromConfig(Configuration, MsixCapabilityOffset);
    }

    public void Dispose()
    {
        _slot.Dispose();
        _doorbell.Dispose();
    }
}
