namespace PluginVmm.Sdk.Memory;

/// <summary>
/// Guest physical memory as a device sees it. Every access is bounds-checked against guest RAM: an address
/// range that is not wholly inside one RAM region is refused (Try* return false, the others throw
/// <see cref="GuestMemoryException"/>), so a hostile guest address can never reach host memory outside RAM.
/// </summary>
public interface IGuestMemory
{
    /// <summary>Total bytes of guest RAM.</summary>
    ulong TotalBytes { get; }

    /// <summary>True when [<paramref name="address"/>, address + length) lies inside one RAM region.</summary>
    bool Contains(ulong address, ulong length);

    /// <summary>Copies guest bytes at <paramref name="address"/> into <paramref name="destination"/>.</summary>
    bool TryRead(ulong address, Span<byte> destination);

    /// <summary>Copies <paramref name="source"/> into guest RAM at <paramref name="address"/>.</summary>
    bool TryWrite(ulong address, ReadOnlySpan<byte> source);

    /// <summary>
    /// A live view of guest RAM (no copy). The range must lie inside one region; at most 2 GiB per span.
    /// The guest's vCPUs may change these bytes concurrently.
    /// </summary>
    Span<byte> GetSpan(ulong address, int length);
}
