using PluginVmm.Sdk.Memory;

namespace PluginVmm.Tests.Boot;

/// <summary>Guest RAM for loader tests: one region [0, size) backed by a byte array, bounds-checked like the real one.</summary>
internal sealed class ByteArrayGuestMemory(int size) : IGuestMemory
{
    public byte[] Bytes { get; } = new byte[size];

    public ulong TotalBytes => (ulong)Bytes.Length;

    public bool Contains(ulong address, ulong length) =>
        address <= (ulong)Bytes.Length && length <= (ulong)Bytes.Length - address;

    public bool TryRead(ulong address, Span<byte> destination)
    {
        if (!Contains(address, (ulong)destination.Length)) return false;
        Bytes.AsSpan((int)address, destination.Length).CopyTo(destination);
        return true;
    }

    public bool TryWrite(ulong address, ReadOnlySpan<byte> source)
    {
        if (!Contains(address, (ulong)source.Length)) return false;
        source.CopyTo(Bytes.AsSpan((int)address));
        return true;
    }

    public Span<byte> GetSpan(ulong address, int length)
    {
        if (length < 0 || !Contains(address, (ulong)length)) throw new GuestMemoryException(address, (ulong)Math.Max(length, 0));
        return Bytes.AsSpan((int)address, length);
    }

    /// <summary>Copy of [address, address + length).</summary>
    public byte[] Slice(ulong address, int length) => Bytes.AsSpan((int)address, length).ToArray();
}
