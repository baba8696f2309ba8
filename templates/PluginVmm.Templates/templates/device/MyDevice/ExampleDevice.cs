using System.Buffers.Binary;
using PluginVmm.Sdk.Pci;

namespace MyDevice;

/// <summary>
/// An example PCI function: 1234:11e0 (0x1234 is a placeholder vendor; use your own IDs), class "other", one 4 KiB
/// 32-bit memory BAR0 with a read-only ID register at 0 and a scratch register at 4. PciDevice keeps config space,
/// BAR sizing, relocation and rollback right; a device implements its BAR accesses. Everything the guest sends is
/// hostile: give every access a defined outcome and do not throw (the core fences a device that does).
/// </summary>
internal sealed class ExampleDevice(uint scratch) : PciDevice(BuildConfiguration())
{
    public const ushort VendorId = 0x1234, DeviceId = 0x11E0;
    public const uint IdValue = 0x11E0_C0DE;
    private uint _scratch = scratch;

    private static PciConfiguration BuildConfiguration()
    {
        var config = new PciConfiguration(VendorId, DeviceId, classCode: 0xFF, subclass: 0x00, revision: 1);
        config.AddBar(new PciBarSpec(0, 0x1000, PciBarKind.Memory32));
        return config;
    }

    public override void ReadBar(int index, ulong offset, Span<byte> data)
    {
        Span<byte> register = stackalloc byte[8];
        register.Clear();
        if (index == 0 && offset == 0) BinaryPrimitives.WriteUInt32LittleEndian(register, IdValue);
        else if (index == 0 && offset == 4) BinaryPrimitives.WriteUInt32LittleEndian(register, _scratch);
        register[..Math.Min(data.Length, 8)].CopyTo(data);
    }

    public override void WriteBar(int index, ulong offset, ReadOnlySpan<byte> data)
    {
        if (index == 0 && offset == 4 && data.Length == 4) _scratch = BinaryPrimitives.ReadUInt32LittleEndian(data);
    }
}
