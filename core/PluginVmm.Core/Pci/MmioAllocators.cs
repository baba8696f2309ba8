namespace PluginVmm.Core.Pci;

/// <summary>Splits an MMIO window between PCI segments.</summary>
public static class MmioAllocators
{
    /// <summary>
    /// One allocator per segment over [<paramref name="start"/>, <paramref name="endInclusive"/>]. Segment k gets
    /// weights[k] units of (window / total weight) rounded down to <paramref name="alignment"/>, placed in order;
    /// the LAST segment gets everything from its start up to <paramref name="endInclusive"/> itself, so the
    /// rounding never makes the top of the window unallocatable (cloud-hypervisor lost up to one alignment unit,
    /// ~4 GiB, there before PR #7950). <paramref name="endInclusive"/> is the last usable byte.
    /// </summary>
    /// <param name="weights">One positive weight per segment, or null for equal shares.</param>
    public static AddressAllocator[] CreateMmioAllocators(ulong start, ulong endInclusive, int segments,
        IReadOnlyList<uint>? weights, ulong alignment, string name = "mmio")
    {
        if (segments < 1) throw new ArgumentOutOfRangeException(nameof(segments), "at least one segment");
        if (weights is not null && weights.Count != segments)
            throw new ArgumentException($"{weights.Count} weights for {segments} segments", nameof(weights));
        if (!AddressAllocator.IsPowerOfTwo(alignment)) throw new ArgumentOutOfRangeException(nameof(alignment), "not a power of two");
        if (endInclusive < start) throw new ArgumentException($"window end 0x{endInclusive:x} below start 0x{start:x}");

        ulong totalWeight = 0;
        for (int k = 0; k < segments; k++)
        {
            uint w = weights?[k] ?? 1;
            if (w == 0) throw new ArgumentException($"weight of segment {k} is zero", nameof(weights));
            totalWeight += w;
        }
        ulong windowBytes = new AddressRange(start, endInclusive).Length;
        ulong unit = windowBytes / alignment / totalWeight * alignment;
        if (unit == 0 && segments > 1)
            throw new ArgumentException($"window {new AddressRange(start, endInclusive)} is too small for {segments} segments at alignment 0x{alignment:x}");

        var result = new AddressAllocator[segments];
        ulong segmentStart = start;
        for (int k = 0; k < segments; k++)
        {
            ulong segmentEnd = k == segments - 1 ? endInclusive : segmentStart + (weights?[k] ?? 1) * unit - 1;
            result[k] = new AddressAllocator(new AddressRange(segmentStart, segmentEnd), segments == 1 ? name : $"{name}[{k}]");
            if (k < segments - 1) segmentStart = segmentEnd + 1;
        }
        return result;
    }
}
