using PluginVmm.Sdk.Pci;

namespace PluginVmm.Plugins.Vfio;

/// <summary>
/// The guest-visible BARs of a passed-through function and which parts of them run at memory speed. Pure functions of
/// what VFIO reports, so they are unit-tested without hardware.
/// </summary>
internal static class VfioBarLayout
{
    private const ulong Page = 0x1000;

    /// <summary>
    /// BAR specs: the size from VFIO's region info (the kernel sized the BAR), the kind from the low bits of the real
    /// BAR register (bit 0 I/O; bits 2:1 = 10b 64-bit; bit 3 prefetchable), the expansion ROM when its region is
    /// non-empty. <paramref name="barRegisters"/> are config dwords 4..9 of the host function.
    /// Throws <see cref="VfioSetupException"/> for a BAR our config space cannot represent.
    /// </summary>
    public static IReadOnlyList<PciBarSpec> Probe(Func<int, VfioRegion> region, ReadOnlySpan<uint> barRegisters, string address)
    {
        var specs = new List<PciBarSpec>();
        for (int i = 0; i < 6; i++)
        {
            ulong size = region(i).Size;
            if (size == 0) continue;
            uint reg = barRegisters[i];
            PciBarKind kind = (reg & 1) != 0 ? PciBarKind.Io
                : ((reg >> 1) & 3) == 2 ? PciBarKind.Memory64 : PciBarKind.Memory32;
            var spec = new PciBarSpec(i, size, kind, kind != PciBarKind.Io && (reg & 8) != 0);
            if (spec.Validate() is { } error) throw new VfioSetupException($"{address}: BAR{i} (0x{size:x} bytes, {kind}): {error}");
            specs.Add(spec);
            if (kind == PciBarKind.Memory64) i++; // the next slot is this BAR's high dword
        }
        ulong romSize = region(VfioRegion.Rom).Size;
        if (romSize != 0)
        {
            var rom = new PciBarSpec(PciBarIndex.Rom, romSize, PciBarKind.Rom);
            if (rom.Validate() is null) specs.Add(rom); // an odd ROM is left out rather than failing the device
        }
        return specs;
    }

    /// <summary>
    /// The page-aligned windows of a memory BAR to map as memory slots: the region's mmap-able areas shrunk to whole
    /// pages, minus every page that holds part of a <paramref name="trapped"/> range (the MSI-X table and PBA, which
    /// we emulate). Everything outside the windows is trapped and forwarded with pread/pwrite.
    /// </summary>
    public static IReadOnlyList<VfioMmapArea> MappedWindows(VfioRegion region, IEnumerable<VfioMmapArea> trapped)
    {
        var holes = trapped.Where(t => t.Size != 0)
            .Select(t => (Start: t.Offset & ~(Page - 1), End: AlignUp(t.Offset + t.Size))).OrderBy(h => h.Start).ToList();
        var windows = new List<VfioMmapArea>();
        foreach (var area in region.MmapAreas)
        {
            ulong start = AlignUp(area.Offset), end = (area.Offset + area.Size) & ~(Page - 1);
            foreach (var (hs, he) in holes)
            {
                if (he <= start || hs >= end) continue;
                if (hs > start) windows.Add(new VfioMmapArea(start, hs - start));
                start = Math.Max(start, he);
            }
            if (end > start) windows.Add(new VfioMmapArea(start, end - start));
        }
        return windows;
    }

    private static ulong AlignUp(ulong value) => (value + Page - 1) & ~(Page - 1);
}
