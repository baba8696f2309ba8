using System.Buffers.Binary;

namespace PluginVmm.Core.Pci;

/// <summary>
/// The type-1 config mechanism at ports 0xCF8-0xCFF (map it at <see cref="PciLayout.ConfigIoPorts"/>): offsets 0-3
/// are CONFIG_ADDRESS (bit 31 enable, bus 23:16, device 15:11, function 10:8, register 7:2), offsets 4-7 are
/// CONFIG_DATA. Byte and word writes to CONFIG_ADDRESS merge into the latch (Linux's conf1 probe writes a byte at
/// 0xCFB, then a dword). Data accesses of 1, 2 or 4 bytes at 0xCFC+n go to byte n of the addressed register; an
/// access crossing the dword, of another size, with the enable bit clear or to a bus other than 0 reads all ones
/// and writes nothing.
/// </summary>
public sealed class PciConfigIoHandler : IBusRangeHandler
{
    private const uint LatchBits = 0x80FF_FFFC; // enable, bus, device, function, register; reserved bits read 0
    private readonly PciRoot _root;
    private readonly object _lock = new();
    private uint _address;

    internal PciConfigIoHandler(PciRoot root) => _root = root;

    /// <summary>The CONFIG_ADDRESS latch.</summary>
    public uint ConfigAddress { get { lock (_lock) return _address; } }

    /// <inheritdoc/>
    public void Read(ulong offset, Span<byte> data)
    {
        if (!ValidSize(data.Length) || offset > 7 || (offset & 3) + (ulong)data.Length > 4)
        {
            data.Fill(0xFF);
            return;
        }
        int byteOffset = (int)(offset & 3);
        uint value;
        if (offset < 4)
        {
            value = ConfigAddress;
        }
        else
        {
            uint latch = ConfigAddress;
            value = (latch & 0x8000_0000) == 0
                ? 0xFFFF_FFFF
                : _root.ReadConfig((int)(latch >> 16) & 0xFF, (int)(latch >> 11) & 0x1F, (int)(latch >> 8) & 7, (int)(latch >> 2) & 0x3F);
        }
        Extract(value, byteOffset, data);
    }

    /// <inheritdoc/>
    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (!ValidSize(data.Length) || offset > 7 || (offset & 3) + (ulong)data.Length > 4) return;
        int byteOffset = (int)(offset & 3);
        if (offset < 4)
        {
            lock (_lock)
            {
                Span<byte> bytes = stackalloc byte[4];
                BinaryPrimitives.WriteUInt32LittleEndian(bytes, _address);
                data.CopyTo(bytes[byteOffset..]);
                _address = BinaryPrimitives.ReadUInt32LittleEndian(bytes) & LatchBits;
            }
            return;
        }
        uint latch = ConfigAddress;
        if ((latch & 0x8000_0000) == 0) return;
        _root.WriteConfig((int)(latch >> 16) & 0xFF, (int)(latch >> 11) & 0x1F, (int)(latch >> 8) & 7, (int)(latch >> 2) & 0x3F, byteOffset, data);
    }

    internal static bool ValidSize(int length) => length is 1 or 2 or 4;

    internal static void Extract(uint value, int byteOffset, Span<byte> data)
    {
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(value >> ((byteOffset + i) * 8));
    }
}
