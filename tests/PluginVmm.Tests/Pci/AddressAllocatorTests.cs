using PluginVmm.Core.Pci;
using Xunit;

namespace PluginVmm.Tests.Pci;

public sealed class AddressAllocatorTests
{
    private static AddressAllocator Small() => new(new AddressRange(0x1000, 0x1FFF), "test");

    [Fact]
    public void Window_end_is_inclusive_and_allocatable()
    {
        var a = Small();
        Assert.Null(a.TryAllocateAt(0x1F00, 0x100, 0x100, "top"));
        Assert.True(a.IsAllocated(new AddressRange(0x1F00, 0x1FFF)));
        Assert.NotNull(a.TryAllocateAt(0x1F00, 0x200, 0x100, "past the end"));
        Assert.Equal(new AddressRange(0x1000, 0x1FFF), Small().Allocate(0x1000, 0x1000, "all"));
    }

    [Fact]
    public void Window_reaching_the_top_of_the_64bit_space_works()
    {
        var a = new AddressAllocator(new AddressRange(0xFFFF_FFFF_FFFF_0000, ulong.MaxValue), "top");
        Assert.Null(a.TryAllocateAt(0xFFFF_FFFF_FFFF_F000, 0x1000, 0x1000, "last page"));
        Assert.Equal(0xFFFF_FFFF_FFFF_0000UL, a.Allocate(0x1000, 0x1000, "first")!.Value.Start);
        Assert.NotNull(a.TryAllocateAt(0xFFFF_FFFF_FFFF_F000, 0x2000, 0x1000, "wraps"));
        Assert.Equal(0x1_0000UL - 0x2000, a.FreeBytes);
    }

    [Fact]
    public void Allocation_is_naturally_aligned_and_lowest_first()
    {
        var a = new AddressAllocator(new AddressRange(0xC000_0000, 0xE7FF_FFFF), "mmio32");
        Assert.Equal(0xC000_0000UL, a.Allocate(0x10, 0x10, "a")!.Value.Start);
        Assert.Equal(0xC000_1000UL, a.Allocate(0x1000, 0x1000, "b")!.Value.Start);
        Assert.Equal(0xC010_0000UL, a.Allocate(0x10_0000, 0x10_0000, "c")!.Value.Start);
        Assert.Equal(0xC000_0010UL, a.Allocate(0x10, 0x10, "d")!.Value.Start); // fills the hole below
        Assert.NotNull(a.TryAllocateAt(0xC020_0800, 0x1000, 0x1000, "misaligned"));
    }

    [Fact]
    public void Exhaustion_returns_null_and_free_makes_room_again()
    {
        var a = Small();
        var ranges = Enumerable.Range(0, 16).Select(i => a.Allocate(0x100, 0x100, $"r{i}")).ToList();
        Assert.All(ranges, r => Assert.NotNull(r));
        Assert.Null(a.Allocate(0x100, 0x100, "one too many"));
        Assert.Null(a.Allocate(0x10, 0x10, "even small"));
        Assert.Equal(0UL, a.FreeBytes);
        Assert.True(a.Free(ranges[7]!.Value));
        Assert.Equal(ranges[7], a.Allocate(0x100, 0x100, "again"));
    }

    [Fact]
    public void Free_needs_the_exact_range()
    {
        var a = Small();
        var r = a.Allocate(0x200, 0x200, "r")!.Value;
        Assert.False(a.Free(new AddressRange(r.Start, r.Start + 0xFF)));
        Assert.False(a.Free(new AddressRange(r.Start, r.EndInclusive + 1)));
        Assert.False(a.Free(new AddressRange(r.Start + 0x100, r.EndInclusive)));
        Assert.True(a.IsAllocated(r));
        Assert.True(a.Free(r));
        Assert.False(a.Free(r));
        Assert.True(a.IsFree(r));
    }

    [Fact]
    public void Reserve_refuses_overlap_and_outside_and_names_the_owner()
    {
        var a = Small();
        Assert.Null(a.TryReserve(new AddressRange(0x1100, 0x11FF), "dev0 BAR0"));
        var error = a.TryReserve(new AddressRange(0x11F0, 0x120F), "dev1 BAR0");
        Assert.Contains("dev0 BAR0", error);
        Assert.NotNull(a.TryReserve(new AddressRange(0x0F00, 0x1000), "below"));
        Assert.NotNull(a.TryReserve(new AddressRange(0x1FFF, 0x2000), "above"));
        Assert.Null(a.TryReserve(new AddressRange(0x1200, 0x1200), "adjacent"));
        Assert.Equal("dev0 BAR0", a.Find(0x1150)!.Value.Owner);
        Assert.Null(a.Find(0x1300));
        Assert.Equal(0x1000UL - 0x101, a.FreeBytes);
    }

    [Fact]
    public void Alignment_must_be_a_power_of_two()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Small().Allocate(0x100, 0x300, "x"));
        Assert.NotNull(Small().TryAllocateAt(0x1000, 0x100, 0, "x"));
    }

    [Fact]
    public void Range_helpers_refuse_wrapping_and_empty()
    {
        Assert.False(AddressRange.TryFromBaseSize(ulong.MaxValue, 2, out _));
        Assert.False(AddressRange.TryFromBaseSize(0x1000, 0, out _));
        Assert.True(AddressRange.TryFromBaseSize(ulong.MaxValue, 1, out var last));
        Assert.Equal(1UL, last.Length);
        Assert.Equal(ulong.MaxValue, new AddressRange(0, ulong.MaxValue).Length);
    }
}
