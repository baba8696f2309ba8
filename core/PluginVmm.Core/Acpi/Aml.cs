using System.Buffers.Binary;

namespace PluginVmm.Core.Acpi;

/// <summary>
/// A small AML (ACPI Machine Language) encoder: each method returns the bytes of one term, and terms nest by
/// passing those bytes to the enclosing term. Covers what a static DSDT needs — names, integers, strings,
/// packages, buffers, scopes, devices, methods, EISA ids. Encodings from the ACPI specification ("ACPI Machine
/// Language Specification": NameString, PkgLength, data objects, named objects).
/// </summary>
public static class Aml
{
    private const byte ZeroOp = 0x00, OneOp = 0x01, NameOp = 0x08, BytePrefix = 0x0A, WordPrefix = 0x0B,
        DWordPrefix = 0x0C, StringPrefix = 0x0D, QWordPrefix = 0x0E, ScopeOp = 0x10, BufferOp = 0x11,
        PackageOp = 0x12, MethodOp = 0x14, DualNamePrefix = 0x2E, MultiNamePrefix = 0x2F, ExtOpPrefix = 0x5B,
        DeviceOp = 0x82, RootChar = 0x5C, ParentPrefixChar = 0x5E, ReturnOp = 0xA4;

    /// <summary>
    /// PkgLength for a package whose body (everything after the PkgLength) is <paramref name="bodyLength"/>
    /// bytes. The encoded length counts the PkgLength bytes themselves: one byte up to 63, otherwise a lead byte
    /// (bits 7-6 = number of following bytes, bits 3-0 = low nibble) and 1-3 bytes holding the rest.
    /// </summary>
    public static byte[] PkgLength(int bodyLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bodyLength);
        if (bodyLength + 1 <= 0x3F) return [(byte)(bodyLength + 1)];
        for (var extra = 1; extra <= 3; extra++)
        {
            var total = bodyLength + 1 + extra;
            if (total < 1 << (4 + 8 * extra))
            {
                var bytes = new byte[1 + extra];
                bytes[0] = (byte)((extra << 6) | (total & 0x0F));
                for (var i = 1; i <= extra; i++) bytes[i] = (byte)(total >> (4 + 8 * (i - 1)));
                return bytes;
            }
        }
        throw new ArgumentOutOfRangeException(nameof(bodyLength), bodyLength, "AML package longer than 2^28 bytes");
    }

    /// <summary>
    /// NameString: an optional root ('\') or parent ('^') prefix, then dot-separated segments of 1-4 characters
    /// (A-Z, 0-9, '_', not starting with a digit), each padded with '_' to four.
    /// </summary>
    public static byte[] NameString(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var output = new List<byte>();
        var rest = path;
        if (rest[0] == '\\') { output.Add(RootChar); rest = rest[1..]; }
        else
        {
            while (rest.Length > 0 && rest[0] == '^') { output.Add(ParentPrefixChar); rest = rest[1..]; }
        }
        var segments = rest.Length == 0 ? [] : rest.Split('.');
        switch (segments.Length)
        {
            case 0: output.Add(0x00); break; // NullName
            case 1: break;
            case 2: output.Add(DualNamePrefix); break;
            case > 255: throw new ArgumentException($"AML name '{path}' has more than 255 segments", nameof(path));
            default: output.Add(MultiNamePrefix); output.Add((byte)segments.Length); break;
        }
        foreach (var segment in segments) output.AddRange(NameSeg(segment, path));
        return [.. output];
    }

    private static byte[] NameSeg(string segment, string path)
    {
        if (segment.Length is < 1 or > 4)
            throw new ArgumentException($"AML name segment '{segment}' in '{path}' must be 1-4 characters", nameof(path));
        var seg = new byte[4];
        for (var i = 0; i < 4; i++)
        {
            var c = i < segment.Length ? segment[i] : '_';
            var valid = c is (>= 'A' and <= 'Z') or '_' || (i > 0 && c is >= '0' and <= '9');
            if (!valid) throw new ArgumentException($"AML name segment '{segment}' in '{path}' has invalid character '{c}'", nameof(path));
            seg[i] = (byte)c;
        }
        return seg;
    }

    /// <summary>The shortest integer encoding: ZeroOp, OneOp, or a Byte/Word/DWord/QWord constant.</summary>
    public static byte[] Integer(ulong value) => value switch
    {
        0 => [ZeroOp],
        1 => [OneOp],
        <= 0xFF => [BytePrefix, (byte)value],
        <= 0xFFFF => Prefixed(WordPrefix, value, 2),
        <= 0xFFFF_FFFF => Prefixed(DWordPrefix, value, 4),
        _ => Prefixed(QWordPrefix, value, 8),
    };

    /// <summary>A DWord constant even when the value is small (EISA ids are conventionally DWords).</summary>
    public static byte[] DWord(uint value) => Prefixed(DWordPrefix, value, 4);

    private static byte[] Prefixed(byte prefix, ulong value, int size)
    {
        var bytes = new byte[1 + size];
        bytes[0] = prefix;
        Span<byte> le = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(le, value);
        le[..size].CopyTo(bytes.AsSpan(1));
        return bytes;
    }

    /// <summary>A NUL-terminated ASCII string constant.</summary>
    public static byte[] String(string value)
    {
        var bytes = new byte[value.Length + 2];
        bytes[0] = StringPrefix;
        for (var i = 0; i < value.Length; i++)
        {
            if (value[i] is < (char)1 or > (char)0x7F) throw new ArgumentException($"AML strings are ASCII without NUL: '{value}'", nameof(value));
            bytes[i + 1] = (byte)value[i];
        }
        return bytes;
    }

    /// <summary>
    /// EisaId("PNP0A03"): three upper-case letters packed 5 bits each (letter − 0x40) and four hex digits, stored
    /// as a big-endian 32-bit value — the DWord 0x030AD041 for PNP0A03.
    /// </summary>
    public static byte[] EisaId(string id)
    {
        if (id.Length != 7 || !id[..3].All(c => c is >= 'A' and <= 'Z') || !id[3..].All(Uri.IsHexDigit))
            throw new ArgumentException($"EISA id '{id}' must be three letters and four hex digits", nameof(id));
        var vendor = ((id[0] - 0x40) << 10) | ((id[1] - 0x40) << 5) | (id[2] - 0x40);
        var product = Convert.ToUInt16(id[3..], 16);
        var bigEndian = ((uint)vendor << 16) | product;
        return DWord(BinaryPrimitives.ReverseEndianness(bigEndian));
    }

    /// <summary>Name(path, value).</summary>
    public static byte[] Name(string path, byte[] value) => [NameOp, .. NameString(path), .. value];

    /// <summary>Package() with up to 255 elements, each an encoded data object.</summary>
    public static byte[] Package(params byte[][] elements)
    {
        if (elements.Length > 255) throw new ArgumentException("a Package holds at most 255 elements; use VarPackage", nameof(elements));
        byte[] body = [(byte)elements.Length, .. Concat(elements)];
        return [PackageOp, .. PkgLength(body.Length), .. body];
    }

    /// <summary>Buffer() holding <paramref name="data"/>, its size given as an integer.</summary>
    public static byte[] Buffer(byte[] data)
    {
        byte[] body = [.. Integer((ulong)data.Length), .. data];
        return [BufferOp, .. PkgLength(body.Length), .. body];
    }

    /// <summary>Scope(path) { terms }.</summary>
    public static byte[] Scope(string path, params byte[][] terms)
    {
        byte[] body = [.. NameString(path), .. Concat(terms)];
        return [ScopeOp, .. PkgLength(body.Length), .. body];
    }

    /// <summary>Device(path) { terms }.</summary>
    public static byte[] Device(string path, params byte[][] terms)
    {
        byte[] body = [.. NameString(path), .. Concat(terms)];
        return [ExtOpPrefix, DeviceOp, .. PkgLength(body.Length), .. body];
    }

    /// <summary>Method(name, argCount, serialized) { terms } with sync level 0.</summary>
    public static byte[] Method(string name, int argCount, bool serialized, params byte[][] terms)
    {
        if (argCount is < 0 or > 7) throw new ArgumentOutOfRangeException(nameof(argCount), argCount, "AML methods take 0-7 arguments");
        byte flags = (byte)(argCount | (serialized ? 0x08 : 0));
        byte[] body = [.. NameString(name), flags, .. Concat(terms)];
        return [MethodOp, .. PkgLength(body.Length), .. body];
    }

    /// <summary>Return(value).</summary>
    public static byte[] Return(byte[] value) => [ReturnOp, .. value];

    /// <summary>ResourceTemplate() { descriptors }: a Buffer of resource descriptors closed by an End Tag.</summary>
    public static byte[] ResourceTemplate(params byte[][] descriptors) =>
        Buffer([.. Concat(descriptors), .. AmlResource.EndTag()]);

    private static byte[] Concat(byte[][] parts)
    {
        var bytes = new byte[parts.Sum(p => p.Length)];
        var at = 0;
        foreach (var p in parts) { p.CopyTo(bytes, at); at += p.Length; }
        return bytes;
    }
}
