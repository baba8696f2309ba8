using System.Buffers.Binary;
using System.Text;

namespace PluginVmm.Core.Acpi;

/// <summary>
/// A system description table being built: the 36-byte header (signature, length, revision, checksum, OEM ids,
/// creator) followed by the body. <see cref="ToArray"/> fills in length and checksum so all bytes sum to zero.
/// </summary>
public sealed class AcpiTable
{
    /// <summary>OEMID in every table and the RSDP.</summary>
    public const string OemId = "PLUGVM";

    /// <summary>Creator id ("ASL compiler vendor") in every table.</summary>
    public const string CreatorId = "PVMM";

    /// <summary>Size of the common header.</summary>
    public const int HeaderSize = 36;

    private readonly List<byte> _bytes;

    /// <summary>Starts a table with <paramref name="signature"/> (4 chars) and an 8-char OEM table id "PVMM" + signature.</summary>
    public AcpiTable(string signature, byte revision)
    {
        if (signature.Length != 4) throw new ArgumentException("ACPI signatures are 4 characters", nameof(signature));
        _bytes = new List<byte>(new byte[HeaderSize]);
        Ascii(0, signature, 4);
        _bytes[8] = revision;
        Ascii(10, OemId, 6);
        Ascii(16, "PVMM" + signature, 8);
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, 1); // OEM revision
        for (var i = 0; i < 4; i++) _bytes[24 + i] = b[i];
        Ascii(28, CreatorId, 4);
        for (var i = 0; i < 4; i++) _bytes[32 + i] = b[i]; // creator revision 1
    }

    /// <summary>Bytes so far (header included).</summary>
    public int Length => _bytes.Count;

    /// <summary>Appends raw bytes.</summary>
    public AcpiTable Add(ReadOnlySpan<byte> bytes) { foreach (var b in bytes) _bytes.Add(b); return this; }

    /// <summary>Appends a byte.</summary>
    public AcpiTable U8(byte v) { _bytes.Add(v); return this; }

    /// <summary>Appends a little-endian u16.</summary>
    public AcpiTable U16(ushort v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, v); return Add(b); }

    /// <summary>Appends a little-endian u32.</summary>
    public AcpiTable U32(uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, v); return Add(b); }

    /// <summary>Appends a little-endian u64.</summary>
    public AcpiTable U64(ulong v) { Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, v); return Add(b); }

    /// <summary>Appends <paramref name="count"/> zero bytes.</summary>
    public AcpiTable Zeros(int count) { for (var i = 0; i < count; i++) _bytes.Add(0); return this; }

    /// <summary>
    /// Appends a Generic Address Structure (12 bytes): address space (1 = System I/O), register bit width, bit
    /// offset, access size (1 = byte), 64-bit address.
    /// </summary>
    public AcpiTable Gas(byte space, byte bitWidth, byte bitOffset, byte accessSize, ulong address) =>
        U8(space).U8(bitWidth).U8(bitOffset).U8(accessSize).U64(address);

    /// <summary>Final bytes: length at offset 4 and the checksum at offset 9 set so the table sums to zero.</summary>
    public byte[] ToArray()
    {
        var bytes = _bytes.ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), (uint)bytes.Length);
        bytes[9] = 0;
        bytes[9] = Checksum(bytes);
        return bytes;
    }

    /// <summary>The byte that makes <paramref name="bytes"/> sum to zero (mod 256).</summary>
    public static byte Checksum(ReadOnlySpan<byte> bytes)
    {
        byte sum = 0;
        foreach (var b in bytes) sum += b;
        return (byte)(0x100 - sum);
    }

    private void Ascii(int offset, string text, int width)
    {
        var padded = Encoding.ASCII.GetBytes(text.PadRight(width)[..width]);
        for (var i = 0; i < width; i++) _bytes[offset + i] = padded[i];
    }
}
