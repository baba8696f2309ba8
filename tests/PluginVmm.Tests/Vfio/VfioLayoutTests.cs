using System.Buffers.Binary;
using PluginVmm.Plugins.Vfio;
using PluginVmm.Sdk.Pci;
using Xunit;

namespace PluginVmm.Tests.Vfio;

/// <summary>Parsing what VFIO reports (region info, BAR kinds, capabilities) and planning which BAR pages are memory slots.</summary>
public sealed class VfioLayoutTests
{
    private static byte[] RegionInfo(uint flags, int index, ulong size, long offset, params (ulong Offset, ulong Size)[] sparse)
    {
        int capBytes = sparse.Length > 0 ? 16 + 16 * sparse.Length : 0;
        var b = new byte[32 + capBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)b.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), flags | (sparse.Length > 0 ? 8u : 0));
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(8), (uint)index);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(12), sparse.Length > 0 ? 32u : 0);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(16), size);
        BinaryPrimitives.WriteInt64LittleEndian(b.AsSpan(24), offset);
        if (sparse.Length > 0)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(32), 1); // VFIO_REGION_INFO_CAP_SPARSE_MMAP
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(40), (uint)sparse.Length);
            for (int i = 0; i < sparse.Length; i++)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(48 + 16 * i), sparse[i].Offset);
                BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(56 + 16 * i), sparse[i].Size);
            }
        }
        return b;
    }

    [Fact]
    public void Region_info_without_caps_maps_the_whole_mmapable_region()
    {
        var r = VfioRegion.Parse(RegionInfo(1 | 2 | 4, 0, 0x10_0000, 0));
        Assert.Equal((0, 0x10_0000UL, 0L, true, true), (r.Index, r.Size, r.Offset, r.Readable, r.Writable));
        Assert.Equal([new VfioMmapArea(0, 0x10_0000)], r.MmapAreas);
        Assert.Empty(VfioRegion.Parse(RegionInfo(1 | 2, 2, 0x4000, 2L << 40)).MmapAreas); // not mmap-able: all trapped
    }

    [Fact]
    public void Sparse_mmap_areas_are_taken_and_clipped_to_the_region()
    {
        var r = VfioRegion.Parse(RegionInfo(1 | 2 | 4, 2, 0x4000, 2L << 40, (0, 0x1000), (0x2000, 0x2000), (0x3000, 0x8000)));
        Assert.Equal(2L << 40, r.Offset);
        Assert.Equal([new VfioMmapArea(0, 0x1000), new VfioMmapArea(0x2000, 0x2000)], r.MmapAreas); // the third overruns: dropped
    }

    [Fact]
    public void A_looping_capability_chain_ends_the_walk()
    {
        var b = RegionInfo(1 | 4, 0, 0x2000, 0, (0, 0x1000));
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(36), 32); // next points at itself
        Assert.Equal([new VfioMmapArea(0, 0x1000)], VfioRegion.Parse(b).MmapAreas);
    }

    private static VfioRegion Sized(int index, ulong size) => new(index, size, 0, true, true, []);

    [Fact]
    public void Bar_kinds_come_from_the_host_register_and_sizes_from_vfio()
    {
        var regions = new Dictionary<int, ulong> { [0] = 0x10_0000, [1] = 0x20, [2] = 0x4000, [VfioRegion.Rom] = 0x1_0000 };
        // BAR0 32-bit, BAR1 I/O, BAR2+3 64-bit prefetchable, ROM
        uint[] regs = [0xFEA0_0000, 0xC001, 0x0000_000C, 0x0000_0001, 0, 0];
        var specs = VfioBarLayout.Probe(i => Sized(i, regions.GetValueOrDefault(i)), regs, "0000:00:01.0");
        Assert.Equal(
            [
                new PciBarSpec(0, 0x10_0000, PciBarKind.Memory32),
                new PciBarSpec(1, 0x20, PciBarKind.Io),
                new PciBarSpec(2, 0x4000, PciBarKind.Memory64, Prefetchable: true),
                new PciBarSpec(PciBarIndex.Rom, 0x1_0000, PciBarKind.Rom),
            ], specs);
    }

    [Fact]
    public void A_bar_our_config_space_cannot_hold_is_a_setup_error_naming_the_host()
    {
        var e = Assert.Throws<VfioSetupException>(() =>
            VfioBarLayout.Probe(i => Sized(i, i == 0 ? 0x3000UL : 0), [0, 0, 0, 0, 0, 0], "0000:03:00.0"));
        Assert.Contains("0000:03:00.0", e.Message);
        Assert.Contains("BAR0", e.Message);
    }

    [Fact]
    public void Msix_table_and_pba_pages_stay_out_of_the_memory_slots()
    {
        var bar = new VfioRegion(0, 0x10000, 0, true, true, [new VfioMmapArea(0, 0x10000)]);
        // table at 0x3000 (16 vectors = 0x100 bytes), PBA at 0x3800: one trapped page; a stray PBA at 0x8ff8 spans two
        var windows = VfioBarLayout.MappedWindows(bar, [new VfioMmapArea(0x3000, 0x100), new VfioMmapArea(0x3800, 8), new VfioMmapArea(0x8ff8, 0x10)]);
        Assert.Equal([new VfioMmapArea(0, 0x3000), new VfioMmapArea(0x4000, 0x4000), new VfioMmapArea(0xA000, 0x6000)], windows);
        // areas that are not page aligned shrink to whole pages
        var odd = new VfioRegion(0, 0x10000, 0, true, true, [new VfioMmapArea(0x800, 0x2000)]);
        Assert.Equal([new VfioMmapArea(0x1000, 0x1000)], VfioBarLayout.MappedWindows(odd, []));
    }

    [Fact]
    public void Capabilities_are_found_and_a_looping_list_ends()
    {
        var f = new FakeVfioFunction();
        f.AddCapability(0x40, VfioCapabilities.MsiId, (byte)(0x80 | (2 << 1)), 0x01);            // 64-bit, per-vector mask, 4 vectors
        f.AddCapability(0x60, VfioCapabilities.MsixId, 7, 0, 0x02, 0x30, 0, 0, 0x02, 0x38, 0, 0); // 8 vectors, table BAR2+0x3000, PBA BAR2+0x3800
        Assert.Equal(new VfioMsiLayout(0x40, 4, Is64Bit: true, PerVectorMask: true), VfioCapabilities.Msi(f.Config));
        Assert.Equal(new VfioMsixLayout(0x60, 8, 2, 0x3000, 2, 0x3800), VfioCapabilities.Msix(f.Config));
        f.Config[0x61] = 0x40; // MSI-X points back at MSI: a loop
        Assert.Equal(0, VfioCapabilities.Find(f.Config, 0x10));
    }
}
