namespace PluginVmm.Core.Pci;

/// <summary>
/// Where PCI lives in the guest's address spaces (x86-64). Facts from cloud-hypervisor's layout; every end is
/// inclusive.
/// <list type="bullet">
/// <item>PIO window for I/O BARs: 0x1000-0xFFFF (legacy ISA ports and 0xCF8-0xCFF stay outside).</item>
/// <item>32-bit MMIO hole: 0xC000_0000-0xE7FF_FFFF (guest RAM below 4 GiB must end at 0xC000_0000).</item>
/// <item>ECAM: 0xE800_0000, 256 MiB, 1 MiB per segment (bus 0 only).</item>
/// <item>64-bit device area: max(4 GiB, end of guest RAM) up to 2^phys_bits - 64 KiB - 1 MiB - 1. The top 64 KiB
/// stay unused (Linux end-of-space bug, Windows 64 KiB alignment); the 1 MiB below them is the platform area.</item>
/// </list>
/// </summary>
public sealed class PciLayout
{
    /// <summary>I/O BAR window.</summary>
    public static readonly AddressRange PioWindow = new(0x1000, 0xFFFF);

    /// <summary>The type-1 config mechanism's ports (CONFIG_ADDRESS 0xCF8, CONFIG_DATA 0xCFC).</summary>
    public static readonly AddressRange ConfigIoPorts = new(0xCF8, 0xCFF);

    /// <summary>32-bit MMIO hole for 32-bit BARs and ROMs.</summary>
    public static readonly AddressRange Mmio32Hole = new(0xC000_0000, 0xE7FF_FFFF);

    /// <summary>ECAM base.</summary>
    public const ulong EcamBase = 0xE800_0000;

    /// <summary>ECAM window size (all segments).</summary>
    public const ulong EcamSize = 256UL << 20;

    /// <summary>ECAM bytes per segment: bus 0 only (32 devices x 8 functions x 4 KiB).</summary>
    public const ulong EcamSegmentSize = 1UL << 20;

    /// <summary>Unused bytes at the top of the guest physical space.</summary>
    public const ulong TopHoleSize = 64UL << 10;

    /// <summary>Platform device area just below the top hole.</summary>
    public const ulong PlatformAreaSize = 1UL << 20;

    /// <summary>Smallest and largest phys_bits accepted (x86-64 MAXPHYADDR is at most 52).</summary>
    public const int MinPhysBits = 36, MaxPhysBits = 52;

    private const ulong FourGiB = 1UL << 32;

    /// <summary>Creates the layout.</summary>
    /// <param name="physBits">Guest CPUID 0x80000008 EAX[7:0].</param>
    /// <param name="ramEndExclusive">First address above guest RAM (RAM above 4 GiB included).</param>
    public PciLayout(int physBits, ulong ramEndExclusive)
    {
        if (physBits is < MinPhysBits or > MaxPhysBits)
            throw new ArgumentOutOfRangeException(nameof(physBits), $"phys_bits {physBits} is not {MinPhysBits}..{MaxPhysBits}");
        PhysBits = physBits;
        ulong top = (1UL << physBits) - TopHoleSize;
        PlatformArea = new AddressRange(top - PlatformAreaSize, top - 1);
        // Page-aligned start: memory slots inside BARs need page-aligned guest addresses.
        ulong start = Math.Max(FourGiB, ramEndExclusive);
        if (start > ulong.MaxValue - 0xFFF) start = ulong.MaxValue & ~0xFFFUL;
        else start = (start + 0xFFF) & ~0xFFFUL;
        if (start >= PlatformArea.Start)
            throw new ArgumentException($"guest RAM ending at 0x{ramEndExclusive:x} leaves no 64-bit device area below 0x{PlatformArea.Start:x} (phys_bits {physBits})");
        Mmio64Area = new AddressRange(start, PlatformArea.Start - 1);
    }

    /// <summary>Guest physical address bits.</summary>
    public int PhysBits { get; }

    /// <summary>64-bit BAR area (inclusive end).</summary>
    public AddressRange Mmio64Area { get; }

    /// <summary>Platform device area (ACPI registers and the like).</summary>
    public AddressRange PlatformArea { get; }

    /// <summary>The whole ECAM window.</summary>
    public static AddressRange EcamWindow => AddressRange.FromBaseSize(EcamBase, EcamSize);

    /// <summary>ECAM window of one segment (bus 0).</summary>
    public static AddressRange EcamForSegment(int segment) =>
        segment is >= 0 and < (int)(EcamSize / EcamSegmentSize)
            ? AddressRange.FromBaseSize(EcamBase + (ulong)segment * EcamSegmentSize, EcamSegmentSize)
            : throw new ArgumentOutOfRangeException(nameof(segment));

    /// <summary>32-bit hole split between segments (4 KiB units).</summary>
    public static AddressAllocator[] CreateMmio32Allocators(int segments = 1, IReadOnlyList<uint>? weights = null) =>
        MmioAllocators.CreateMmioAllocators(Mmio32Hole.Start, Mmio32Hole.EndInclusive, segments, weights, 0x1000, "mmio32");

    /// <summary>64-bit area split between segments in 4 GiB units (the last segment takes the rest).</summary>
    public AddressAllocator[] CreateMmio64Allocators(int segments = 1, IReadOnlyList<uint>? weights = null) =>
        MmioAllocators.CreateMmioAllocators(Mmio64Area.Start, Mmio64Area.EndInclusive, segments, weights, FourGiB, "mmio64");

    /// <summary>The PIO allocator (one for all segments: only segment 0 has I/O space).</summary>
    public static AddressAllocator CreatePioAllocator()
    {
        var pio = new AddressAllocator(PioWindow, "pio");
        if (PioWindow.Overlaps(ConfigIoPorts)) pio.TryReserve(ConfigIoPorts, "PCI config ports");
        return pio;
    }
}
