using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace PluginVmm.Core.Buses;

/// <summary>
/// An address space of non-overlapping device ranges (the PIO or MMIO bus).
/// <list type="bullet">
/// <item><see cref="Register"/>(base, length, handler) covers [base, base + length): start inclusive, end
/// exclusive. length must be &gt; 0 and the range must not wrap past 2^64; a range that overlaps an existing one
/// by even one byte is refused with <see cref="BusConflictException"/> and nothing changes.</item>
/// <item><see cref="Unregister"/>(base) removes the range that starts exactly at base.</item>
/// <item><see cref="TryLookup"/>(address) finds the range containing address and returns its base, so the handler
/// gets offset = address - base.</item>
/// <item><see cref="Read"/>/<see cref="Write"/> dispatch an access only if all its bytes lie inside one range;
/// otherwise (nothing there, or straddling a range end) the access is unhandled: reads see all-ones (0xFF
/// bytes, like an unclaimed PCI/ISA cycle), writes are dropped.</item>
/// </list>
/// Lookups are lock-free over an immutable snapshot, so handlers may register or unregister ranges (their own
/// included) while being dispatched, and several vCPUs may dispatch at once.
/// </summary>
public abstract class Bus
{
    private readonly object _writeLock = new();
    private BusRange[] _ranges = [];  // sorted by Base; replaced, never mutated
    private readonly ILogger _logger;

    /// <summary>Creates an empty bus.</summary>
    protected Bus(string name, ILogger? logger)
    {
        Name = name;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>"pio" or "mmio", for logs.</summary>
    public string Name { get; }

    /// <summary>The current registrations, sorted by base.</summary>
    public IReadOnlyList<BusRange> Ranges => Volatile.Read(ref _ranges);

    /// <summary>Routes [<paramref name="baseAddress"/>, +<paramref name="length"/>) to <paramref name="handler"/>.</summary>
    public void Register(ulong baseAddress, ulong length, IBusHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        if (length == 0)
            throw new BusConflictException($"{Name}: empty range at 0x{baseAddress:x}");
        if (baseAddress > ulong.MaxValue - (length - 1))
            throw new BusConflictException($"{Name}: range 0x{baseAddress:x}+0x{length:x} wraps past 2^64");
        var added = new BusRange(baseAddress, length, handler);
        lock (_writeLock)
        {
            var current = _ranges;
            int i = LowerBound(current, baseAddress);
            if (i > 0 && current[i - 1].Last >= baseAddress)
                throw new BusConflictException($"{Name}: {added} overlaps {current[i - 1]}");
            if (i < current.Length && current[i].Base <= added.Last)
                throw new BusConflictException($"{Name}: {added} overlaps {current[i]}");
            var next = new BusRange[current.Length + 1];
            Array.Copy(current, next, i);
            next[i] = added;
            Array.Copy(current, i, next, i + 1, current.Length - i);
            Volatile.Write(ref _ranges, next);
        }
    }

    /// <summary>Removes the range starting exactly at <paramref name="baseAddress"/>; false if there is none.</summary>
    public bool Unregister(ulong baseAddress)
    {
        lock (_writeLock)
        {
            var current = _ranges;
            int i = LowerBound(current, baseAddress);
            if (i >= current.Length || current[i].Base != baseAddress) return false;
            var next = new BusRange[current.Length - 1];
            Array.Copy(current, next, i);
            Array.Copy(current, i + 1, next, i, current.Length - i - 1);
            Volatile.Write(ref _ranges, next);
            return true;
        }
    }

    /// <summary>Finds the range containing <paramref name="address"/>.</summary>
    public bool TryLookup(ulong address, out BusRange range)
    {
        var current = Volatile.Read(ref _ranges);
        // Last range whose base is <= address.
        int i = LowerBound(current, address);
        if (i < current.Length && current[i].Base == address) { range = current[i]; return true; }
        if (i > 0 && current[i - 1].Last >= address) { range = current[i - 1]; return true; }
        range = default;
        return false;
    }

    /// <summary>Dispatches a guest read; false (and <paramref name="data"/> all-ones) when unhandled.</summary>
    public bool Read(ulong address, Span<byte> data)
    {
        if (TryLookup(address, out var range) && range.Covers(address, (ulong)data.Length))
        {
            try
            {
                range.Handler.Read(address - range.Base, data);
                return true;
            }
            catch (Exception e)
            {
                _logger.LogError(e, "{Bus} read of {Size} bytes at 0x{Address:x} failed in {Range}", Name, data.Length, address, range);
            }
        }
        data.Fill(0xFF);
        return false;
    }

    /// <summary>Dispatches a guest write; false when unhandled (the write is dropped).</summary>
    public bool Write(ulong address, ReadOnlySpan<byte> data)
    {
        if (TryLookup(address, out var range) && range.Covers(address, (ulong)data.Length))
        {
            try
            {
                range.Handler.Write(address - range.Base, data);
                return true;
            }
            catch (Exception e)
            {
                _logger.LogError(e, "{Bus} write of {Size} bytes at 0x{Address:x} failed in {Range}", Name, data.Length, address, range);
            }
        }
        return false;
    }

    // First index whose Base >= address.
    private static int LowerBound(BusRange[] ranges, ulong address)
    {
        int lo = 0, hi = ranges.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (ranges[mid].Base < address) lo = mid + 1; else hi = mid;
        }
        return lo;
    }
}
