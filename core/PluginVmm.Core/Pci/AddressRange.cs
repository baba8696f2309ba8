namespace PluginVmm.Core.Pci;

/// <summary>
/// A range of guest addresses with an inclusive end, so a range ending at the last address of a window (or of
/// the 64-bit space) is representable without overflow. Never empty.
/// </summary>
public readonly record struct AddressRange
{
    /// <summary>Creates [<paramref name="start"/>, <paramref name="endInclusive"/>].</summary>
    public AddressRange(ulong start, ulong endInclusive)
    {
        if (endInclusive < start) throw new ArgumentException($"range end 0x{endInclusive:x} is below its start 0x{start:x}");
        Start = start;
        EndInclusive = endInclusive;
    }

    /// <summary>First address.</summary>
    public ulong Start { get; }

    /// <summary>Last address (inclusive).</summary>
    public ulong EndInclusive { get; }

    /// <summary>Bytes covered; saturates at <see cref="ulong.MaxValue"/> for the whole 64-bit space.</summary>
    public ulong Length => EndInclusive - Start == ulong.MaxValue ? ulong.MaxValue : EndInclusive - Start + 1;

    /// <summary>[<paramref name="start"/>, start + size - 1]; false when size is 0 or the range wraps past 2^64.</summary>
    public static bool TryFromBaseSize(ulong start, ulong size, out AddressRange range)
    {
        range = default;
        if (size == 0 || start > ulong.MaxValue - (size - 1)) return false;
        range = new AddressRange(start, start + (size - 1));
        return true;
    }

    /// <summary>Like <see cref="TryFromBaseSize"/> but throws on an empty or wrapping range.</summary>
    public static AddressRange FromBaseSize(ulong start, ulong size) =>
        TryFromBaseSize(start, size, out var range)
            ? range
            : throw new ArgumentException($"0x{size:x} bytes at 0x{start:x} is empty or wraps past 2^64");

    /// <summary>True when the two ranges share at least one address.</summary>
    public bool Overlaps(AddressRange other) => Start <= other.EndInclusive && other.Start <= EndInclusive;

    /// <summary>True when <paramref name="other"/> lies wholly inside this range.</summary>
    public bool Contains(AddressRange other) => Start <= other.Start && other.EndInclusive <= EndInclusive;

    /// <summary>True when <paramref name="address"/> lies inside this range.</summary>
    public bool Contains(ulong address) => Start <= address && address <= EndInclusive;

    /// <inheritdoc/>
    public override string ToString() => $"[0x{Start:x}-0x{EndInclusive:x}]";
}
