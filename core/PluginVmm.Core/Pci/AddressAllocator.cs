namespace PluginVmm.Core.Pci;

/// <summary>
/// Hands out ranges of one address window [<see cref="Window"/>.Start, <see cref="Window"/>.EndInclusive]. Both
/// ends are inclusive, so the last byte of the window is allocatable (the off-by-one cloud-hypervisor PR #7950
/// fixed). A range is freed only by naming it exactly, so a guest-chosen address can never release a range it
/// merely overlaps. Each range carries an owner description used in refusal messages.
/// Not thread-safe: the PCI root serialises every use under its lock.
/// </summary>
public sealed class AddressAllocator
{
    // Sorted by start; ranges never overlap.
    private readonly List<(AddressRange Range, string Owner)> _used = [];

    /// <summary>Creates an allocator over the inclusive window.</summary>
    public AddressAllocator(AddressRange window, string name)
    {
        Window = window;
        Name = name;
    }

    /// <summary>The window this allocator manages.</summary>
    public AddressRange Window { get; }

    /// <summary>A short name for messages ("mmio32", "pio").</summary>
    public string Name { get; }

    /// <summary>The ranges in use, in address order.</summary>
    public IReadOnlyList<(AddressRange Range, string Owner)> Allocated => _used;

    /// <summary>
    /// Takes [<paramref name="address"/>, address + size - 1] if it is aligned to <paramref name="alignment"/>, inside
    /// the window and free. Returns null on success, or why it failed.
    /// </summary>
    public string? TryAllocateAt(ulong address, ulong size, ulong alignment, string owner)
    {
        if (!IsPowerOfTwo(alignment)) return $"alignment 0x{alignment:x} is not a power of two";
        if (address % alignment != 0) return $"0x{address:x} is not aligned to 0x{alignment:x}";
        if (!AddressRange.TryFromBaseSize(address, size, out var range)) return $"0x{size:x} bytes at 0x{address:x} wrap past 2^64";
        return TryReserve(range, owner);
    }

    /// <summary>Marks <paramref name="range"/> used (no alignment rule). Returns null on success, or why it failed.</summary>
    public string? TryReserve(AddressRange range, string owner)
    {
        if (!Window.Contains(range)) return $"{range} is outside the {Name} window {Window}";
        int i = FirstEndingAtOrAfter(range.Start);
        if (i < _used.Count && _used[i].Range.Overlaps(range))
            return $"{range} overlaps {_used[i].Owner} at {_used[i].Range}";
        _used.Insert(i, (range, owner));
        return null;
    }

    /// <summary>
    /// Takes the lowest free range of <paramref name="size"/> bytes aligned to <paramref name="alignment"/>
    /// (a power of two), or returns null when none is left.
    /// </summary>
    public AddressRange? Allocate(ulong size, ulong alignment, string owner)
    {
        if (size == 0) throw new ArgumentOutOfRangeException(nameof(size), "size must not be zero");
        if (!IsPowerOfTwo(alignment)) throw new ArgumentOutOfRangeException(nameof(alignment), $"alignment 0x{alignment:x} is not a power of two");
        ulong gapStart = Window.Start;
        for (int i = 0; i <= _used.Count; i++)
        {
            bool last = i == _used.Count;
            // Gap [gapStart, gapEnd]; a gap is empty when the previous range ended at the window's end.
            ulong gapEnd = last ? Window.EndInclusive : _used[i].Range.Start - 1;
            bool gapExists = last ? gapStart <= Window.EndInclusive : _used[i].Range.Start > gapStart;
            if (gapExists && TryFit(gapStart, gapEnd, size, alignment, out ulong candidate))
            {
                var range = new AddressRange(candidate, candidate + (size - 1));
                _used.Insert(i, (range, owner));
                return range;
            }
            if (last || _used[i].Range.EndInclusive == ulong.MaxValue) break;
            gapStart = _used[i].Range.EndInclusive + 1;
            if (_used[i].Range.EndInclusive == Window.EndInclusive) break;
        }
        return null;
    }

    /// <summary>Releases exactly <paramref name="range"/>; false (and nothing freed) unless it is allocated as such.</summary>
    public bool Free(AddressRange range)
    {
        int i = FirstEndingAtOrAfter(range.Start);
        if (i >= _used.Count || _used[i].Range != range) return false;
        _used.RemoveAt(i);
        return true;
    }

    /// <summary>True when every address of <paramref name="range"/> is inside the window and unused.</summary>
    public bool IsFree(AddressRange range)
    {
        if (!Window.Contains(range)) return false;
        int i = FirstEndingAtOrAfter(range.Start);
        return i >= _used.Count || !_used[i].Range.Overlaps(range);
    }

    /// <summary>True when exactly <paramref name="range"/> is allocated.</summary>
    public bool IsAllocated(AddressRange range)
    {
        int i = FirstEndingAtOrAfter(range.Start);
        return i < _used.Count && _used[i].Range == range;
    }

    /// <summary>The used range containing <paramref name="address"/>, if any.</summary>
    public (AddressRange Range, string Owner)? Find(ulong address)
    {
        int i = FirstEndingAtOrAfter(address);
        return i < _used.Count && _used[i].Range.Contains(address) ? _used[i] : null;
    }

    /// <summary>Bytes not in use.</summary>
    public ulong FreeBytes
    {
        get
        {
            ulong used = 0;
            foreach (var (range, _) in _used) used += range.Length;
            return Window.Length - used;
        }
    }

    private static bool TryFit(ulong gapStart, ulong gapEnd, ulong size, ulong alignment, out ulong candidate)
    {
        candidate = 0;
        ulong rem = gapStart % alignment;
        if (rem != 0)
        {
            ulong bump = alignment - rem;
            if (gapStart > ulong.MaxValue - bump) return false;
            gapStart += bump;
        }
        if (gapStart > gapEnd || gapEnd - gapStart < size - 1) return false;
        candidate = gapStart;
        return true;
    }

    // Index of the first used range whose end is >= address (the only one that can overlap a range starting there).
    private int FirstEndingAtOrAfter(ulong address)
    {
        int lo = 0, hi = _used.Count;
        while (lo < hi)
        {
            int mid = (lo + hi) / 2;
            if (_used[mid].Range.EndInclusive < address) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }

    internal static bool IsPowerOfTwo(ulong value) => value != 0 && (value & (value - 1)) == 0;
}
