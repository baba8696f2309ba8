using System.Buffers.Binary;

namespace PluginVmm.Fuzz;

/// <summary>
/// Reads an AFL input as a stream of small fields. Past the end every field reads zero, so every input, however
/// short, decodes to something; <see cref="More"/> tells the decoders when to stop adding operations.
/// </summary>
internal sealed class ByteReader(byte[] data)
{
    private int _position;

    public bool More => _position < data.Length;

    public byte U8() => _position < data.Length ? data[_position++] : (byte)0;

    public ushort U16()
    {
        Span<byte> b = stackalloc byte[2];
        b[0] = U8();
        b[1] = U8();
        return BinaryPrimitives.ReadUInt16LittleEndian(b);
    }

    public uint U32() => U16() | (uint)U16() << 16;

    public ulong U64() => U32() | (ulong)U32() << 32;

    public byte[] Bytes(int count)
    {
        var bytes = new byte[count];
        for (int i = 0; i < count; i++) bytes[i] = U8();
        return bytes;
    }

    /// <summary>One of <paramref name="choices"/>, picked by the next byte.</summary>
    public T Pick<T>(IReadOnlyList<T> choices) => choices[U8() % choices.Count];
}
