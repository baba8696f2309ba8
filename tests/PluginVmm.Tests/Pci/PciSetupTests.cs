using PluginVmm.Core.Pci;
using PluginVmm.Sdk.Pci;
using PluginVmm.Tests.Pci.Fakes;
using Xunit;

namespace PluginVmm.Tests.Pci;

public sealed class PciSetupTests
{
    internal static readonly PciBarSpec Bar0 = new(0, 0x1000, PciBarKind.Memory32);
    internal static readonly PciBarSpec Bar1 = new(1, 0x1000, PciBarKind.Memory32);
    internal static readonly PciBarSpec Bar2 = new(2, 0x10_0000, PciBarKind.Memory64, Prefetchable: true);
    internal static readonly PciBarSpec Bar4 = new(4, 0x20, PciBarKind.Io);
    internal static readonly PciBarSpec Rom = new(PciBarIndex.Rom, 0x800, PciBarKind.Rom);
    internal static readonly PciBarSpec[] All = [Bar0, Bar1, Bar2, Bar4, Rom];

    [Fact]
    public void Bars_are_placed_naturally_aligned_in_their_windows_and_decoding_is_enabled()
    {
        var bed = new PciTestBed();
        var device = new TestPciDevice(All);
        int dev = bed.Root.AddDevice("dev", device);
        Assert.Equal(1, dev);
        var bars = bed.Root.GetBars(dev).ToDictionary(b => b.Index);
        Assert.Equal("mmio32", bars[0].Window);
        Assert.Equal("mmio32", bars[1].Window);
        Assert.Equal("mmio32", bars[PciBarIndex.Rom].Window);
        Assert.Equal("mmio64", bars[2].Window);
        Assert.Equal("pio", bars[4].Window);
        foreach (var b in bars.Values) Assert.Equal(0UL, b.Base % b.Size);
        Assert.Equal(0UL, bars[2].Base % PciRoot.Mmio64PlacementAlignment);
        Assert.True(PciLayout.Mmio32Hole.Contains(bars[0].Base));
        Assert.True(bed.Layout.Mmio64Area.Contains(bars[2].Base));
        Assert.True(PciLayout.PioWindow.Contains(bars[4].Base));
        Assert.Equal(0x3u, bed.ReadConfig(dev, 1) & 0x3);
        bed.AssertConsistent(dev, All);
    }

    [Fact]
    public void Bar_accesses_reach_the_device_only_while_decoding_is_enabled()
    {
        var bed = new PciTestBed();
        var device = new TestPciDevice(All);
        int dev = bed.Root.AddDevice("dev", device);
        ulong bar0 = bed.CoreBase(dev, 0), io = bed.CoreBase(dev, 4), rom = bed.CoreBase(dev, PciBarIndex.Rom);

        Assert.Equal(new byte[] { 1, 1, 1, 1 }, bed.Bus.Read(BusSpace.Mmio, bar0 + 8, 4));
        Assert.Equal((0, 8UL, 4, false), device.Accesses[^1]);
        Assert.Equal(new byte[] { 5, 5 }, bed.Bus.Read(BusSpace.Pio, io + 2, 2));

        bed.WriteCommand(dev, 0x1); // memory off, I/O on
        int seen = device.Accesses.Count;
        Assert.Equal(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF }, bed.Bus.Read(BusSpace.Mmio, bar0, 4));
        bed.Bus.Write(BusSpace.Mmio, bar0, new byte[] { 1, 2, 3, 4 });
        Assert.Equal(seen, device.Accesses.Count);
        Assert.Equal(new byte[] { 5 }, bed.Bus.Read(BusSpace.Pio, io, 1));

        bed.WriteCommand(dev, 0x2); // memory on, I/O off
        Assert.Equal(new byte[] { 0xFF }, bed.Bus.Read(BusSpace.Pio, io, 1));
        // The ROM also needs its own enable bit.
        Assert.Equal(new byte[] { 0xFF }, bed.Bus.Read(BusSpace.Mmio, rom, 1));
        bed.WriteConfig(dev, 12, (uint)rom | 1);
        Assert.Equal(new byte[] { 7 }, bed.Bus.Read(BusSpace.Mmio, rom, 1));
    }

    [Fact]
    public void Invalid_or_clashing_specs_are_setup_errors_naming_the_device()
    {
        var bed = new PciTestBed();
        var e = Assert.Throws<PciSetupException>(() => bed.Root.AddDevice("bad0", new RawPciDevice(new PciBarSpec(0, 0x1800, PciBarKind.Memory32))));
        Assert.Contains("bad0", e.Message);
        e = Assert.Throws<PciSetupException>(() => bed.Root.AddDevice("bad1", new RawPciDevice(Bar2, new PciBarSpec(3, 0x1000, PciBarKind.Memory32))));
        Assert.Contains("slot 3", e.Message);
        Assert.Empty(bed.Root.Windows.Mmio64.Allocated);
    }

    [Fact]
    public void Running_out_of_space_leaves_nothing_behind()
    {
        var bed = new PciTestBed();
        ulong freeBefore = bed.Root.Windows.Mmio32.FreeBytes;
        int mappingsBefore = bed.Bus.Mappings(BusSpace.Mmio).Count;
        var big = new PciBarSpec(0, 0x4000_0000, PciBarKind.Memory32); // 1 GiB > the 640 MiB hole
        var e = Assert.Throws<PciSetupException>(() => bed.Root.AddDevice("huge", new TestPciDevice(Bar4, big)));
        Assert.Contains("no room", e.Message);
        Assert.Equal(freeBefore, bed.Root.Windows.Mmio32.FreeBytes);
        Assert.DoesNotContain(bed.Root.Windows.Pio.Allocated, a => a.Owner.StartsWith("huge"));
        Assert.Equal(mappingsBefore, bed.Bus.Mappings(BusSpace.Mmio).Count);
        Assert.DoesNotContain(bed.Bus.Mappings(BusSpace.Pio), m => m.Range != PciLayout.ConfigIoPorts);
        Assert.Equal(1, bed.Root.AddDevice("fits", new TestPciDevice(Bar0))); // the slot was not consumed
    }

    [Fact]
    public void A_device_that_ignores_its_assignment_is_refused()
    {
        var bed = new PciTestBed();
        var e = Assert.Throws<PciSetupException>(() => bed.Root.AddDevice("deaf", new RawPciDevice(Bar0) { IgnoreAssign = true }));
        Assert.Contains("deaf", e.Message);
        Assert.Empty(bed.Root.Windows.Mmio32.Allocated);
    }

    [Fact]
    public void At_most_31_devices()
    {
        var bed = new PciTestBed();
        for (int i = 1; i <= PciRoot.MaxDevices; i++) Assert.Equal(i, bed.Root.AddDevice($"d{i}", new TestPciDevice(Bar0)));
        Assert.Throws<PciSetupException>(() => bed.Root.AddDevice("d32", new TestPciDevice(Bar0)));
    }

    [Fact]
    public void Resources_registered_before_attach_are_checked_and_placed()
    {
        var bed = new PciTestBed();
        var resources = bed.Root.CreateBarResources("shm");
        var (slot, ioEvent) = ResourceSetup.Attach(resources, slotBar: 2, slotOffset: 0x1000, slotSize: 0x2000, ioBar: 0, ioOffset: 0x10);
        int dev = bed.Root.AddDevice("shm", new TestPciDevice(Bar0, Bar2), resources);
        ulong bar2 = bed.CoreBase(dev, 2), bar0 = bed.CoreBase(dev, 0);
        Assert.Equal(bar2 + 0x1000, Assert.Single(bed.Slots.Slots.Values).Address);
        Assert.Equal(bar0 + 0x10, Assert.Single(bed.IoEvents.Registered).Address);
        bed.AssertConsistent(dev, [Bar0, Bar2], resources);

        slot.Dispose();
        ioEvent.Dispose();
        Assert.Empty(bed.Slots.Slots);
        Assert.Empty(bed.IoEvents.Registered);
        Assert.True(((CountingEvent)bed.IoEvents.CreateEventFd()).Fd > 0);

        var bad = bed.Root.CreateBarResources("bad");
        bad.MapIntoBar(0, 0x800, new ArrayHostMemory(0x1000)); // not page aligned
        var e = Assert.Throws<PciSetupException>(() => bed.Root.AddDevice("bad", new TestPciDevice(Bar0), bad));
        Assert.Contains("4 KiB", e.Message);
        var attached = bed.Root.CreateBarResources("late");
        bed.Root.AddDevice("late", new TestPciDevice(Bar0), attached);
        Assert.Throws<ArgumentException>(() => attached.MapIntoBar(0, 0, new ArrayHostMemory(0x2000))); // larger than the BAR
        Assert.Throws<ArgumentException>(() => attached.AddIoEvent(3, 0, 4));
    }
}
