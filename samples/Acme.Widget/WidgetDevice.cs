using System.Buffers.Binary;
using System.Text;
using PluginVmm.Sdk.Pci;

namespace Acme.Widget;

/// <summary>
/// The Acme widget (vendor 0x1234 — a sample, not a real vendor — device 0xabcd): BAR0 holds an ID register and a
/// scratch register, BAR2 is a 64-bit window that echoes its offsets, and an expansion ROM carries the label.
/// It uses every BAR kind a memory device can have, so the host's relocation and rollback cover them all.
/// </summary>
internal sealed class WidgetDevice(string label) : PciDevice(BuildConfiguration())
{
    public const uint IdValue = 0x57_1D_6E_70;
    private uint _scratch;

    private static PciConfiguration BuildConfiguration()
    {
        var config = new PciConfiguration(0x1234, 0xABCD, classCode: 0xFF, subclass: 0x00, revision: 3);
        config.AddBar(new PciBarSpec(0, 0x1000, PciBarKind.Memory32));
        config.AddBar(new PciBarSpec(2, 0x10_0000, PciBarKind.Memory64, Prefetchable: true));
        config.AddBar(new PciBarSpec(PciBarIndex.Rom, 0x800, PciBarKind.Rom));
        return config;
    }

    public override void ReadBar(int index, ulong offset, Span<byte> data)
    {
        data.Clear();
        Span<byte> value = stackalloc byte[8];
        switch (index)
        {
            case 0 when offset == 0: BinaryPrimitives.WriteUInt32LittleEndian(value, IdValue); break;
            case 0 when offset == 4: BinaryPrimitives.WriteUInt32LittleEndian(value, _scratch); break;
            case 2: BinaryPrimitives.WriteUInt64LittleEndian(value, offset); break;
            case PciBarIndex.Rom:
                var text = Encoding.ASCII.GetBytes(label);
                if (offset < (ulong)text.Length) text.AsSpan((int)offset).CopyTo(value);
                break;
        }
        value[..Math.Min(data.Length, 8)].CopyTo(data);
    }

    public override void WriteBar(int index, ulong offset, ReadOnlySpan<byte> data)
    {
        if (index == 0 && offset == 4 && data.Length == 4) _scratch = BinaryPrimitives.ReadUInt32LittleEndian(data);
    }
}
