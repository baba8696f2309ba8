using PluginVmm.Core.Pci;
using Xunit;

namespace PluginVmm.Tests.Pci;

public sealed class PciLayoutTests
{
    private static ulong ExpectedEnd(int physBits) => (1UL << physBits) - 0x1_0000 - 0x10_0000 - 1;

    [Theory]
    [InlineData(39)]
    [InlineData(46)]
    [InlineData(52)]
    public void Mmio64_area_ends_below_the_platform_area_and_top_hole(int physBits)
    {
        var layout = new PciLayout(physBits, 0x8000_0000);
        Assert.Equal(1UL << 32, layout.Mmio64Area.Start);
        Assert.Equal(ExpectedEnd(physBits), layout.Mmio64Area.EndInclusive);
        Assert.Equal(layout.Mmio64Area.EndInclusive + 1, layout.PlatformArea.Start);
        Assert.Equal((1UL << physBits) - 0x1_0000 - 1, layout.PlatformArea.EndInclusive);
    }

    [Fact]
    public void At_46_bits_the_end_matches_cloud_hypervisor()
    {
        Assert.Equal(0x3FFF_FFEE_FFFFUL, new PciLayout(46, 0).Mmio64Area.EndInclusive);
    }

    [Theory]
    [InlineData(39, 1, null)]
    [InlineData(39, 2, null)]
    [InlineData(39, 3, new uint[] { 1, 2, 5 })]
    [InlineData(46, 1, null)]
    [InlineData(46, 2, new uint[] { 3, 1 })]
    [InlineData(46, 3, null)]
    [InlineData(52, 1, null)]
    [InlineData(52, 2, null)]
    [InlineData(52, 3, new uint[] { 7, 1, 1 })]
    public void Last_mmio64_allocator_reaches_the_end_exactly(int physBits, int segments, uint[]? weights)
    {
        var layout = new PciLayout(physBits, 0x8000_0000);
        var allocators = layout.CreateMmio64Allocators(segments, weights);
        Assert.Equal(segments, allocators.Length);
        Assert.Equal(layout.Mmio64Area.Start, allocators[0].Window.Start);
        Assert.Equal(layout.Mmio64Area.EndInclusive, allocators[^1].Window.EndInclusive);
        for (int k = 1; k < segments; k++)
            Assert.Equal(allocators[k - 1].Window.EndInclusive + 1, allocators[k].Window.Start); // contiguous, no overlap
        for (int k = 0; k < segments - 1; k++)
        {
            uint w = weights?[k] ?? 1;
            Assert.Equal(0UL, allocators[k].Window.Length % (1UL << 32)); // whole 4 GiB units
            Assert.True(allocators[k].Window.Length / w >= 1UL << 32);
        }
        // The very top is usable: the highest naturally aligned 64 KiB block ends on the last byte.
        ulong end = layout.Mmio64Area.EndInclusive;
        Assert.Null(allocators[^1].TryAllocateAt(end - 0xFFFF, 0x1_0000, 0x1_0000, "top"));
    }

    [Fact]
    public void Weights_split_the_window_in_proportion()
    {
        var a = MmioAllocators.CreateMmioAllocators(0, 0x3FFF, 3, [1, 2, 1], 0x1000);
        Assert.Equal(new AddressRange(0, 0xFFF), a[0].Window);
        Assert.Equal(new AddressRange(0x1000, 0x2FFF), a[1].Window);
        Assert.Equal(new AddressRange(0x3000, 0x3FFF), a[2].Window);
        // An uneven window: the remainder goes to the last segment instead of being lost.
        var b = MmioAllocators.CreateMmioAllocators(0, 0x4FFF, 2, null, 0x1000);
        Assert.Equal(new AddressRange(0, 0x1FFF), b[0].Window);
        Assert.Equal(new AddressRange(0x2000, 0x4FFF), b[1].Window);
    }

    [Fact]
    public void Mmio32_allocators_cover_the_hole_inclusive()
    {
        var one = PciLayout.CreateMmio32Allocators();
        Assert.Equal(new AddressRange(0xC000_0000, 0xE7FF_FFFF), one[0].Window);
        var three = PciLayout.CreateMmio32Allocators(3, [1, 1, 2]);
        Assert.Equal(0xE7FF_FFFFUL, three[2].Window.EndInclusive);
        Assert.Null(three[2].TryAllocateAt(0xE7FF_F000, 0x1000, 0x1000, "top page"));
    }

    [Fact]
    public void Bad_arguments_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new PciLayout(35, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new PciLayout(53, 0));
        Assert.Throws<ArgumentException>(() => new PciLayout(36, 1UL << 36));
        Assert.Throws<ArgumentException>(() => MmioAllocators.CreateMmioAllocators(0, 0xFFF, 2, null, 0x1000));
        Assert.Throws<ArgumentException>(() => MmioAllocators.CreateMmioAllocators(0, 0xFFFF, 2, [1], 0x1000));
        Assert.Throws<ArgumentException>(() => MmioAllocators.CreateMmioAllocators(0, 0xFFFF, 2, [1, 0], 0x1000));
    }

    [Fact]
    public void Mmio64_area_starts_above_ram_when_ram_reaches_past_4GiB()
    {
        var layout = new PciLayout(39, 0x2_4000_0000);
        Assert.Equal(0x2_4000_0000UL, layout.Mmio64Area.Start);
        Assert.Equal(0x2_4000_1000UL, new PciLayout(39, 0x2_4000_0001).Mmio64Area.Start); // page aligned
    }

    [Fact]
    public void Pio_window_and_ecam()
    {
        var pio = PciLayout.CreatePioAllocator();
        Assert.Equal(new AddressRange(0x1000, 0xFFFF), pio.Window);
        Assert.Equal(new AddressRange(0xE800_0000, 0xE80F_FFFF), PciLayout.EcamForSegment(0));
        Assert.Equal(new AddressRange(0xE810_0000, 0xE81F_FFFF), PciLayout.EcamForSegment(1));
        Assert.Equal(0xF7FF_FFFFUL, PciLayout.EcamWindow.EndInclusive);
        Assert.False(PciLayout.Mmio32Hole.Overlaps(PciLayout.EcamWindow));
    }
}
