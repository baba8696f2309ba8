using PluginVmm.Sdk.Memory;

namespace PluginVmm.Sdk.Testing;

/// <summary>
/// Guest RAM for device tests: one region [<see cref="Base"/>, Base + size) backed by a byte array, bounds-checked
/// like the core's (a range must lie wholly inside the region), so tests can aim descriptors just outside RAM.
/// </summary>
public sealed class InMemoryGuestMemory(int size, ulong baseAddress = 0) : IGuestMemory
{
    /// <summary>The backing bytes (index 0 is guest address <see cref="Base"/>).</summary>
    public byte[] Bytes { get; } = new byte[size];

    /// <summary>Guest physical address of the first byte.</summary>
    public ulong Base { get; } = baseAddress;

    /// <summary>Number of accesses refused because they were outside RAM.</summary>
    public int Refused => Volatile.Read(ref _refused);

    private int _refused;

    /// <inheritdoc/>
    public ulong TotalBytes => (ulong)Bytes.Length;

    /// <inheritdoc/>
    public bool Contains(ulong address, ulong length) =>
        address >= Base && address - Base <= (ulong)Bytes.Length && length <= (ulong)Bytes.Length - (address - Base);

    /// <inheritdoc/>
    public bool TryRead(ulong address, Span<byte> destination)
    {
        if (!Check(address, destination.Length)) return false;
        Bytes.AsSpan((int)(address - Base), destination.Length).CopyTo(destination);
        return true;
    }

    /// <inheritdoc/>
    public bool TryWrite(ulong address, ReadOnlySpan<byte> source)
    {
        if (!Check(address, source.Length)) return false;
        source.CopyTo(Bytes.AsSpan((int)(address - Base)));
        return true;
    }

    /// <inheritdoc/>
    public Span<byte> GetSpan(ulong address, int length)
    {
        if (length < 0 || !Check(address, length)) throw new GuestMemoryException(address, (ulong)Math.Max(length, 0));
        return Bytes.AsSpan((int)(address - Base), length);
    }

    private bool Check(ulong address, int length)
    {
        if (Contains(address, (ulong)length)) return true;
        Interlocked.Increment(ref _refused);
        return false;
    }
}
