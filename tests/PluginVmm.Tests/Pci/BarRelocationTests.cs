using Microsoft.Extensions.Logging;
using PluginVmm.Core.Pci;
using PluginVmm.Sdk.Pci;
using PluginVmm.Tests.Pci.Fakes;
using Xunit;
using static PluginVmm.Tests.Pci.PciSetupTests;

namespace PluginVmm.Tests.Pci;

public sealed class BarRelocationTests
{
    private static (PciTestBed Bed, TestPciDevice Device, int Dev) OneDevice(params PciBarSpec[] bars)
    {
        var bed = new PciTestBed();
        var device = new TestPciDevice(bars.Length == 0 ? All : bars);
        int dev = bed.Root.AddDevice("dev", device);
        return (bed, device, dev);
    }

    private static void AssertRefused(PciTestBed bed, string barName, string reasonPart)
    {
        var warning = Assert.Single(bed.Logger.At(LogLevel.Warning));
        Assert.Contains("dev", warning);
        Assert.Contains(barName, warning);
        Assert.Contains("keeping old BAR", warning);
        Assert.Contains(reasonPart, warning);
    }

    private static void AssertOnlyAt(PciTestBed bed, TestPciDevice device, ulong address, ulong stale, byte expected)
    {
        int before = device.Accesses.Count;
        var staleRead = bed.Bus.Read(BusSpace.Mmio, stale, 4); // all ones, or whatever else lives there (ECAM)
        Assert.NotEqual(new byte[] { expected, expected, expected, expected }, staleRead);
        Assert.Equal(before, device.Accesses.Count);
        Assert.Equal(new byte[] { expected, expected, expected, expected }, bed.Bus.Read(BusSpace.Mmio, address + 0x10, 4));
        Assert.Equal(0x10UL, device.Accesses[^1].Offset);
    }

    [Fact]
    public void Moving_a_32bit_bar_inside_the_hole_succeeds_and_the_bus_follows()
    {
        var (bed, device, dev) = OneDevice();
        ulong old = bed.CoreBase(dev, 0);
        bed.ProgramBar(dev, Bar0, 0xD000_0000);
        Assert.Equal(0xD000_0000UL, bed.CoreBase(dev, 0));
        Assert.Equal(new BarReprogrammingParams(0, PciBarKind.Memory32, old, 0xD000_0000, 0x1000), Assert.Single(device.Moves));
        AssertOnlyAt(bed, device, 0xD000_0000, old, 1);
        bed.AssertConsistent(dev, All);
        Assert.Empty(bed.Logger.At(LogLevel.Warning));
        Assert.True(bed.Root.Windows.Mmio32.IsFree(AddressRange.FromBaseSize(old, 0x1000)));
    }

    [Theory]
    [InlineData(0x1000_0000UL, "outside")]  // guest RAM
    [InlineData(0xFEE0_0000UL, "outside")]  // LAPIC
    [InlineData(0xFEC0_0000UL, "outside")]  // IOAPIC
    [InlineData(0xE800_0000UL, "outside")]  // ECAM
    [InlineData(0xBFFF_F000UL, "outside")]  // just below the hole
    [InlineData(0xE800_0000UL - 0x1000, null)] // the last page of the hole is fine
    public void Bar0_targets(ulong target, string? refusal)
    {
        var (bed, device, dev) = OneDevice();
        ulong old = bed.CoreBase(dev, 0);
        bed.ProgramBar(dev, Bar0, target);
        if (refusal is null)
        {
            Assert.Equal(target, bed.CoreBase(dev, 0));
        }
        else
        {
            Assert.Equal(old, bed.CoreBase(dev, 0));
            Assert.Equal(old, bed.ConfigBarAddress(dev, Bar0));
            AssertOnlyAt(bed, device, old, target, 1);
            AssertRefused(bed, "BAR0", refusal);
            Assert.Empty(device.Moves);
        }
        bed.AssertConsistent(dev, All);
    }

    [Theory]
    [InlineData(1UL << PciTestBed.PhysBits)]                        // beyond phys_bits
    [InlineData((1UL << PciTestBed.PhysBits) - 0x10_0000)]          // top hole / platform area
    [InlineData((1UL << PciTestBed.PhysBits) - 0x20_0000)]          // overlaps the platform area
    [InlineData(0x4000_0000UL)]                                     // RAM below 4 GiB
    [InlineData(0x9_1230_0000UL << 4)]                              // far beyond, both dwords differ
    public void Refused_64bit_move_rolls_back_both_halves(ulong target)
    {
        var (bed, device, dev) = OneDevice();
        ulong old = bed.CoreBase(dev, 2);
        Assert.NotEqual(0u, (uint)(old >> 32));
        uint oldLow = bed.ReadConfig(dev, 6), oldHigh = bed.ReadConfig(dev, 7);
        bed.ProgramBarWithDecodingOff(dev, Bar2, target);
        Assert.Equal(oldLow, bed.ReadConfig(dev, 6));
        Assert.Equal(oldHigh, bed.ReadConfig(dev, 7));
        Assert.Equal(old, bed.CoreBase(dev, 2));
        AssertRefused(bed, "BAR2", "outside");
        Assert.Equal(0x3u, bed.ReadConfig(dev, 1) & 3);
        bed.AssertConsistent(dev, All);
        Assert.Equal(new byte[] { 3, 3, 3, 3 }, bed.Bus.Read(BusSpace.Mmio, old + 0x10, 4));
    }

    [Fact]
    public void Moving_a_64bit_bar_into_the_32bit_hole_and_back_succeeds()
    {
        var (bed, device, dev) = OneDevice();
        ulong old = bed.CoreBase(dev, 2);
        bed.ProgramBarWithDecodingOff(dev, Bar2, 0xD010_0000);
        Assert.Equal(0xD010_0000UL, bed.CoreBase(dev, 2));
        Assert.Equal("mmio32", bed.Root.GetBars(dev).Single(b => b.Index == 2).Window);
        bed.AssertConsistent(dev, All);
        bed.ProgramBarWithDecodingOff(dev, Bar2, old);
        Assert.Equal("mmio64", bed.Root.GetBars(dev).Single(b => b.Index == 2).Window);
        bed.AssertConsistent(dev, All);
        Assert.Equal(2, device.Moves.Count);
    }

    [Fact]
    public void The_low_dword_of_a_64bit_bar_alone_is_not_a_move()
    {
        var (bed, _, dev) = OneDevice();
        ulong old = bed.CoreBase(dev, 2);
        int ops = bed.Faults.Count;
        bed.WriteConfig(dev, 6, 0x0040_0000); // decoding on, low only
        Assert.Equal(ops, bed.Faults.Count);
        Assert.Equal(old, bed.CoreBase(dev, 2));
        bed.WriteConfig(dev, 7, (uint)(old >> 32)); // high completes the pair
        Assert.Equal((old & 0xFFFF_FFFF_0000_0000UL) | 0x0040_0000, bed.CoreBase(dev, 2));
        bed.AssertConsistent(dev, All);
    }

    [Fact]
    public void The_highest_naturally_aligned_address_in_the_64bit_area_is_reachable_and_back()
    {
        var (bed, device, dev) = OneDevice();
        ulong old = bed.CoreBase(dev, 2);
        ulong end = bed.Layout.Mmio64Area.EndInclusive;
        ulong top = (end + 1 - Bar2.Size) & ~(Bar2.Size - 1);
        Assert.Equal(end, top + Bar2.Size - 1 + (end + 1 - top - Bar2.Size)); // top is the last aligned slot
        Assert.True(end - (top + Bar2.Size - 1) < Bar2.Size);
        bed.ProgramBarWithDecodingOff(dev, Bar2, top);
        Assert.Equal(top, bed.CoreBase(dev, 2));
        AssertOnlyAt(bed, device, top, old, 3);
        bed.AssertConsistent(dev, All);
        bed.ProgramBarWithDecodingOff(dev, Bar2, top + Bar2.Size); // one further is past the end
        Assert.Equal(top, bed.CoreBase(dev, 2));
        bed.ProgramBarWithDecodingOff(dev, Bar2, old);
        Assert.Equal(old, bed.CoreBase(dev, 2));
        bed.AssertConsistent(dev, All);
    }

    [Fact]
    public void Rom_bar_move_is_rolled_back_too()
    {
        var (bed, device, dev) = OneDevice();
        ulong old = bed.CoreBase(dev, PciBarIndex.Rom);
        bed.WriteConfig(dev, 12, (uint)old | 1);
        bed.ProgramBar(dev, Rom, 0xFEE0_0000);
        Assert.Equal((uint)old | 1, bed.ReadConfig(dev, 12)); // address back, enable bit kept
        AssertRefused(bed, "ROM", "outside");
        bed.AssertConsistent(dev, All);
        Assert.Equal(new byte[] { 7 }, bed.Bus.Read(BusSpace.Mmio, old, 1));

        bed.ProgramBar(dev, Rom, 0xD800_0000);
        Assert.Equal(0xD800_0000UL, bed.CoreBase(dev, PciBarIndex.Rom));
        Assert.Equal(new byte[] { 7 }, bed.Bus.Read(BusSpace.Mmio, 0xD800_0000, 1));
        bed.AssertConsistent(dev, All);
    }

    [Fact]
    public void Bar1_moved_onto_bar0_is_refused_and_both_keep_their_addresses()
    {
        // cloud-hypervisor restores by matching new_base: it finds BAR0 first and rewrites BAR0.
        var (bed, device, dev) = OneDevice();
        ulong bar0 = bed.CoreBase(dev, 0), bar1 = bed.CoreBase(dev, 1);
        bed.ProgramBar(dev, Bar1, bar0);
        Assert.Equal(bar0, bed.ConfigBarAddress(dev, Bar0));
        Assert.Equal(bar1, bed.ConfigBarAddress(dev, Bar1));
        Assert.Equal(bar0, bed.CoreBase(dev, 0));
        Assert.Equal(bar1, bed.CoreBase(dev, 1));
        AssertRefused(bed, "BAR1", "overlaps dev BAR0");
        Assert.Equal(new byte[] { 1 }, bed.Bus.Read(BusSpace.Mmio, bar0, 1));
        Assert.Equal(new byte[] { 2 }, bed.Bus.Read(BusSpace.Mmio, bar1, 1));
        bed.AssertConsistent(dev, All);
    }

    [Fact]
    public void A_bar_moved_onto_another_devices_bar_is_refused()
    {
        var bed = new PciTestBed();
        var a = new TestPciDevice(All);
        var b = new TestPciDevice(All);
        int da = bed.Root.AddDevice("a", a), db = bed.Root.AddDevice("dev", b);
        bed.ProgramBarWithDecodingOff(db, Bar2, bed.CoreBase(da, 2));
        AssertRefused(bed, "BAR2", "overlaps a BAR2");
        bed.ProgramBar(db, Bar4, bed.CoreBase(da, 4) + 0x10); // the SDK masks to the 0x20 size: exactly a's BAR4
        Assert.Contains("overlaps a BAR4", bed.Logger.At(LogLevel.Warning).Last());
        bed.AssertConsistent(da, All);
        bed.AssertConsistent(db, All);
    }

    [Fact]
    public void Swapping_two_bars_with_decoding_off_succeeds_as_one_batch()
    {
        var (bed, device, dev) = OneDevice();
        ulong bar0 = bed.CoreBase(dev, 0), bar1 = bed.CoreBase(dev, 1);
        bed.WriteCommand(dev, 0);
        bed.ProgramBar(dev, Bar0, bar1);
        bed.ProgramBar(dev, Bar1, bar0);
        Assert.Equal(bar0, bed.CoreBase(dev, 0)); // nothing moves while decoding is off
        bed.WriteCommand(dev, 0x3);
        Assert.Equal(bar1, bed.CoreBase(dev, 0));
        Assert.Equal(bar0, bed.CoreBase(dev, 1));
        Assert.Equal(new byte[] { 2 }, bed.Bus.Read(BusSpace.Mmio, bar0, 1)); // BAR1 answers at BAR0's old address
        Assert.Equal(new byte[] { 1 }, bed.Bus.Read(BusSpace.Mmio, bar1, 1));
        Assert.Empty(bed.Logger.At(LogLevel.Warning));
        bed.AssertConsistent(dev, All);
    }

    [Fact]
    public void A_failed_batch_is_retried_move_by_move()
    {
        var bed = new PciTestBed();
        var other = new TestPciDevice(All);
        var device = new TestPciDevice(All);
        int o = bed.Root.AddDevice("other", other), dev = bed.Root.AddDevice("dev", device);
        bed.WriteCommand(dev, 0);
        bed.ProgramBar(dev, Bar0, 0xD000_0000);           // fine
        bed.ProgramBar(dev, Bar1, bed.CoreBase(o, 1));     // onto the other device
        bed.WriteCommand(dev, 0x3);
        Assert.Equal(0xD000_0000UL, bed.CoreBase(dev, 0));
        AssertRefused(bed, "BAR1", "overlaps other BAR1");
        bed.AssertConsistent(dev, All);
        bed.AssertConsistent(o, All);
    }

    [Fact]
    public void Cross_device_sequence_of_ch_8572_is_refused_consistently()
    {
        // F1.BAR0 moved away with decoding off (pending), F0.BAR0 moved onto F1's old address and enabled first.
        var bed = new PciTestBed();
        var f0 = new TestPciDevice(All);
        var f1 = new TestPciDevice(All);
        int d0 = bed.Root.AddDevice("dev", f0), d1 = bed.Root.AddDevice("f1", f1);
        ulong f1Old = bed.CoreBase(d1, 0), f0Old = bed.CoreBase(d0, 0);
        bed.WriteCommand(d1, 0);
        bed.ProgramBar(d1, Bar0, 0xD000_0000);
        bed.WriteCommand(d0, 0);
        bed.ProgramBar(d0, Bar0, f1Old);
        bed.WriteCommand(d0, 0x3);
        Assert.Equal(f0Old, bed.CoreBase(d0, 0));
        AssertRefused(bed, "BAR0", "overlaps f1 BAR0");
        bed.WriteCommand(d1, 0x3);
        Assert.Equal(0xD000_0000UL, bed.CoreBase(d1, 0));
        bed.AssertConsistent(d0, All);
        bed.AssertConsistent(d1, All);
    }

    [Fact]
    public void Rewriting_the_current_address_is_a_no_op()
    {
        var (bed, device, dev) = OneDevice();
        int ops = bed.Faults.Count;
        bed.ProgramBar(dev, Bar0, bed.CoreBase(dev, 0));
        bed.ProgramBarWithDecodingOff(dev, Bar2, bed.CoreBase(dev, 2));
        Assert.Equal(ops, bed.Faults.Count);
        Assert.Empty(device.Moves);
        Assert.Empty(bed.Logger.At(LogLevel.Warning));
    }

    [Fact]
    public void Size_probes_are_not_moves()
    {
        var (bed, device, dev) = OneDevice();
        int ops = bed.Faults.Count;
        bed.WriteConfig(dev, 4, 0xFFFF_FFFF);
        Assert.Equal(0xFFFF_F000u, bed.ReadConfig(dev, 4));
        bed.WriteConfig(dev, 4, (uint)bed.CoreBase(dev, 0));
        Assert.Equal(ops, bed.Faults.Count);
        bed.AssertConsistent(dev, All);
    }

    [Fact]
    public void Misaligned_address_from_a_third_party_device_is_refused()
    {
        var bed = new PciTestBed();
        var raw = new RawPciDevice(Bar0, Bar1);
        int dev = bed.Root.AddDevice("dev", raw);
        ulong old = bed.CoreBase(dev, 0);
        bed.WriteConfig(dev, 4, 0xD000_0800);
        AssertRefused(bed, "BAR0", "not aligned");
        Assert.Equal(old, bed.ConfigBarAddress(dev, Bar0));
        Assert.Single(raw.Restores);
        bed.AssertConsistent(dev, [Bar0, Bar1]);
    }

    [Fact]
    public void The_sdk_masks_a_misaligned_write_to_the_bar_size()
    {
        var (bed, _, dev) = OneDevice();
        bed.WriteConfig(dev, 4, 0xD000_0800);
        Assert.Equal(0xD000_0000UL, bed.CoreBase(dev, 0));
        bed.AssertConsistent(dev, All);
    }

    [Fact]
    public void The_core_trusts_its_own_record_of_the_old_address()
    {
        var bed = new PciTestBed();
        var raw = new RawPciDevice(Bar0, Bar1) { LieAboutOldBase = 0xDEAD_0000 };
        int dev = bed.Root.AddDevice("dev", raw);
        ulong old = bed.CoreBase(dev, 0);
        bed.WriteConfig(dev, 4, 0xD000_0000);
        Assert.Equal(0xD000_0000UL, bed.CoreBase(dev, 0));
        Assert.True(bed.Root.Windows.Mmio32.IsFree(AddressRange.FromBaseSize(old, 0x1000)));
        bed.AssertConsistent(dev, [Bar0, Bar1]);
    }

    [Fact]
    public void A_device_ignoring_restore_is_fenced()
    {
        var bed = new PciTestBed();
        var raw = new RawPciDevice(Bar0, Bar1) { IgnoreRestore = true };
        var good = new TestPciDevice(All);
        int dev = bed.Root.AddDevice("liar", raw), g = bed.Root.AddDevice("good", good);
        ulong old = bed.CoreBase(dev, 0);
        bed.WriteConfig(dev, 4, 0xFEE0_0000);
        Assert.True(bed.Root.IsFenced(dev));
        Assert.Equal(0xFFFF_FFFFu, bed.ReadConfig(dev, 0));
        int writes = raw.ConfigWrites.Count;
        bed.WriteConfig(dev, 1, 0);
        Assert.Equal(writes, raw.ConfigWrites.Count);
        Assert.False(bed.Bus.IsMapped(BusSpace.Mmio, AddressRange.FromBaseSize(old, 0x1000)));
        Assert.Equal(new byte[] { 0xFF }, bed.Bus.Read(BusSpace.Mmio, old, 1));
        var error = Assert.Single(bed.Logger.At(LogLevel.Error));
        Assert.Contains("liar", error);
        Assert.Contains("fenced", error);
        // Its ranges stay reserved; the rest of the VM carries on.
        Assert.False(bed.Root.Windows.Mmio32.IsFree(AddressRange.FromBaseSize(old, 0x1000)));
        bed.ProgramBar(g, Bar0, 0xD000_0000);
        bed.AssertConsistent(g, All);
    }

    [Fact]
    public void A_device_whose_config_space_does_not_follow_a_successful_move_is_fenced()
    {
        var bed = new PciTestBed();
        var raw = new RawPciDevice(Bar0, Bar1) { RevertOnMove = true };
        int dev = bed.Root.AddDevice("stale", raw);
        bed.WriteConfig(dev, 4, 0xD000_0000);
        Assert.True(bed.Root.IsFenced(dev));
        var error = Assert.Single(bed.Logger.At(LogLevel.Error));
        Assert.Contains("stale", error);
        Assert.Contains("core maps it at 0xd0000000", error);
        Assert.Null(bed.Bus.Find(BusSpace.Mmio, 0xD000_0000));
        Assert.Empty(bed.Root.CheckConsistency()); // fenced devices are out of the check; nothing else is affected
    }

    [Fact]
    public void A_device_throwing_in_a_bar_access_is_fenced_and_the_vm_goes_on()
    {
        var (bed, device, dev) = OneDevice();
        ulong bar0 = bed.CoreBase(dev, 0);
        device.ThrowOnBarRead = true;
        Assert.Equal(new byte[] { 0xFF, 0xFF }, bed.Bus.Read(BusSpace.Mmio, bar0, 2));
        Assert.True(bed.Root.IsFenced(dev));
        Assert.Null(bed.Bus.Find(BusSpace.Mmio, bar0));
        Assert.Contains("ReadBar", Assert.Single(bed.Logger.At(LogLevel.Error)));
    }

    [Fact]
    public void A_device_throwing_in_a_config_write_is_fenced()
    {
        var bed = new PciTestBed();
        var raw = new RawPciDevice(Bar0) { };
        int dev = bed.Root.AddDevice("dev", raw);
        raw.ThrowOnConfigWrite = true;
        bed.WriteConfig(dev, 1, 0);
        Assert.True(bed.Root.IsFenced(dev));
        Assert.Equal(0xFFFF_FFFFu, bed.ReadConfig(dev, 0));
        Assert.Empty(bed.Root.CheckConsistency());
    }
}
