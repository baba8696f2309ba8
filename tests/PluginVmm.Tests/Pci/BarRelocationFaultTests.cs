using Microsoft.Extensions.Logging;
using PluginVmm.Core.Pci;
using PluginVmm.Sdk.Pci;
using PluginVmm.Tests.Pci.Fakes;
using Xunit;
using static PluginVmm.Tests.Pci.PciSetupTests;

namespace PluginVmm.Tests.Pci;

/// <summary>
/// Fails every step of the relocation transaction in turn (bus map/unmap, memory slots, ioeventfds through the
/// recorders; the device's MoveBar through a hook) and checks that config space, the core's record, the bus, the
/// allocator and the resource registrations agree afterwards, and that the device keeps working.
/// </summary>
public sealed class BarRelocationFaultTests
{
    private const ulong NewBar0 = 0xD000_0000, NewBar4 = 0x8000;

    private sealed record Setup(PciTestBed Bed, TestPciDevice Device, int Dev, BarResources Resources, ulong Old0, ulong Old2, ulong Old4, ulong New2);

    /// <summary>A device with a memory slot in BAR2, an MMIO ioeventfd in BAR0 and a PIO ioeventfd in BAR4.</summary>
    private static Setup Build()
    {
        var bed = new PciTestBed();
        var resources = bed.Root.CreateBarResources("dev");
        var device = new TestPciDevice(All);
        resources.MapIntoBar(2, 0x1000, resources.MapFile("/shm", 0x2000));
        resources.AddIoEvent(0, 0x10, 4);
        resources.AddIoEvent(4, 0x4, 2, dataMatch: 7);
        int dev = bed.Root.AddDevice("dev", device, resources);
        ulong old2 = bed.CoreBase(dev, 2);
        return new Setup(bed, device, dev, resources, bed.CoreBase(dev, 0), old2, bed.CoreBase(dev, 4), old2 + 0x1_0000_0000);
    }

    /// <summary>Guest writes BARs with decoding off; the returned action enables decoding (where the moves happen).</summary>
    private static Action Stage(Setup s, bool bar0, bool bar2, bool bar4)
    {
        s.Bed.WriteCommand(s.Dev, 0);
        if (bar0) s.Bed.ProgramBar(s.Dev, Bar0, NewBar0);
        if (bar2) s.Bed.ProgramBar(s.Dev, Bar2, s.New2);
        if (bar4) s.Bed.ProgramBar(s.Dev, Bar4, NewBar4);
        return () => s.Bed.WriteCommand(s.Dev, 0x3);
    }

    private static void AssertWorks(Setup s)
    {
        s.Bed.AssertConsistent(s.Dev, All, s.Resources);
        Assert.Empty(s.Bed.Logger.At(LogLevel.Error));
        ulong bar0 = s.Bed.CoreBase(s.Dev, 0), bar2 = s.Bed.CoreBase(s.Dev, 2), bar4 = s.Bed.CoreBase(s.Dev, 4);
        Assert.Equal(new byte[] { 1 }, s.Bed.Bus.Read(BusSpace.Mmio, bar0, 1));
        Assert.Equal(new byte[] { 3 }, s.Bed.Bus.Read(BusSpace.Mmio, bar2, 1));
        Assert.Equal(new byte[] { 5 }, s.Bed.Bus.Read(BusSpace.Pio, bar4, 1));
        Assert.True(s.Bed.IoEvents.Signal(BusSpace.Mmio, bar0 + 0x10));
        Assert.True(s.Bed.IoEvents.Signal(BusSpace.Pio, bar4 + 0x4));
        Assert.Equal(bar2 + 0x1000, Assert.Single(s.Bed.Slots.Slots.Values).Address);
    }

    private static int CountOps(bool bar0, bool bar2, bool bar4)
    {
        var s = Build();
        var enable = Stage(s, bar0, bar2, bar4);
        int before = s.Bed.Faults.Count;
        enable();
        return s.Bed.Faults.Count - before;
    }

    [Fact]
    public void A_successful_move_carries_every_resource()
    {
        var s = Build();
        Stage(s, true, true, true)();
        Assert.Equal(NewBar0, s.Bed.CoreBase(s.Dev, 0));
        Assert.Equal(s.New2, s.Bed.CoreBase(s.Dev, 2));
        Assert.Equal(NewBar4, s.Bed.CoreBase(s.Dev, 4));
        Assert.False(s.Bed.IoEvents.Signal(BusSpace.Mmio, s.Old0 + 0x10));
        AssertWorks(s);
        // unmap x3, map x3, withdraw (1 resource each) x3, place x3
        Assert.Equal(12, CountOps(true, true, true));
    }

    public static TheoryData<int> SingleMoveSteps() => [.. Enumerable.Range(0, CountOps(false, true, false))];

    [Theory]
    [MemberData(nameof(SingleMoveSteps))]
    public void Single_move_failing_at_each_step_is_rolled_back(int step)
    {
        var s = Build();
        var enable = Stage(s, false, true, false);
        s.Bed.Faults.FailAt(s.Bed.Faults.Count + step);
        enable();
        Assert.Equal(s.Old2, s.Bed.CoreBase(s.Dev, 2));
        Assert.Contains("keeping old BAR", Assert.Single(s.Bed.Logger.At(LogLevel.Warning)));
        Assert.Contains("injected fault", s.Bed.Logger.At(LogLevel.Warning).Single());
        Assert.Empty(s.Device.Moves);
        AssertWorks(s);
        // Nothing is left half-done: the same move now succeeds.
        Stage(s, false, true, false)();
        Assert.Equal(s.New2, s.Bed.CoreBase(s.Dev, 2));
        AssertWorks(s);
    }

    public static TheoryData<int> BatchSteps() => [.. Enumerable.Range(0, CountOps(true, true, true))];

    [Theory]
    [MemberData(nameof(BatchSteps))]
    public void Batch_failing_once_at_each_step_is_rolled_back_then_retried(int step)
    {
        var s = Build();
        var enable = Stage(s, true, true, true);
        s.Bed.Faults.FailAt(s.Bed.Faults.Count + step);
        enable();
        // The batch was undone as a whole, then each move alone succeeded (the fault was one-shot).
        Assert.Contains(s.Bed.Logger.At(LogLevel.Debug), m => m.Contains("one by one"));
        Assert.Equal(NewBar0, s.Bed.CoreBase(s.Dev, 0));
        Assert.Equal(s.New2, s.Bed.CoreBase(s.Dev, 2));
        Assert.Equal(NewBar4, s.Bed.CoreBase(s.Dev, 4));
        Assert.Empty(s.Bed.Logger.At(LogLevel.Warning));
        AssertWorks(s);
    }

    public static TheoryData<string> PersistentFaults() => ["map new range", "add slot at new address", "remove slot"];

    [Theory]
    [MemberData(nameof(PersistentFaults))]
    public void A_step_failing_for_one_bar_refuses_that_bar_and_moves_the_others(string failing)
    {
        var s = Build();
        var enable = Stage(s, true, true, true);
        Predicate<string> predicate = failing switch
        {
            "map new range" => op => op.StartsWith($"map Mmio [0x{s.New2:x}-"),
            "add slot at new address" => op => op == $"add slot 0x{s.New2 + 0x1000:x}",
            _ => op => op.StartsWith("remove slot"),
        };
        s.Bed.Faults.FailWhen(predicate);
        enable();
        s.Bed.Faults.Clear();
        Assert.Equal(NewBar0, s.Bed.CoreBase(s.Dev, 0));
        Assert.Equal(s.Old2, s.Bed.CoreBase(s.Dev, 2));
        Assert.Equal(NewBar4, s.Bed.CoreBase(s.Dev, 4));
        Assert.Contains("BAR2", Assert.Single(s.Bed.Logger.At(LogLevel.Warning)));
        AssertWorks(s);
    }

    [Fact]
    public void MoveBar_throwing_rolls_back_everything()
    {
        var s = Build();
        s.Device.MoveFault = _ => new IOException("cannot remap");
        Stage(s, false, true, false)();
        Assert.Equal(s.Old2, s.Bed.CoreBase(s.Dev, 2));
        Assert.Contains("cannot remap", Assert.Single(s.Bed.Logger.At(LogLevel.Warning)));
        Assert.Equal(s.Old2, s.Device.Configuration.GetBarAddress(2));
        AssertWorks(s);
    }

    [Fact]
    public void MoveBar_throwing_for_one_bar_of_a_batch_undoes_the_others_device_side_too()
    {
        var s = Build();
        s.Device.MoveFault = m => m.Index == 2 ? new IOException("BAR2 stuck") : null;
        Stage(s, true, true, false)();
        Assert.Equal(NewBar0, s.Bed.CoreBase(s.Dev, 0));
        Assert.Equal(s.Old2, s.Bed.CoreBase(s.Dev, 2));
        // BAR0 forward, BAR0 back (batch undone), BAR0 forward again (alone).
        Assert.Equal([(s.Old0, NewBar0), (NewBar0, s.Old0), (s.Old0, NewBar0)], s.Device.Moves.Select(m => (m.OldBase, m.NewBase)));
        Assert.Equal(NewBar0, s.Device.Configuration.GetBarAddress(0));
        Assert.Equal(s.Old2, s.Device.Configuration.GetBarAddress(2));
        AssertWorks(s);
    }

    [Fact]
    public void A_rollback_that_fails_fences_the_device_and_spares_the_others()
    {
        var s = Build();
        var other = new TestPciDevice(All);
        int o = s.Bed.Root.AddDevice("other", other);
        var enable = Stage(s, false, true, false);
        int c = s.Bed.Faults.Count;
        s.Bed.Faults.FailAt(c + 1); // map the new range
        s.Bed.Faults.FailAt(c + 2); // ... and its undo: mapping the old range again
        enable();
        Assert.True(s.Bed.Root.IsFenced(s.Dev));
        var error = Assert.Single(s.Bed.Logger.At(LogLevel.Error));
        Assert.Contains("dev", error);
        Assert.Contains("rolling back", error);
        Assert.Equal(0xFFFF_FFFFu, s.Bed.ReadConfig(s.Dev, 0));
        Assert.Null(s.Bed.Bus.Find(BusSpace.Mmio, s.Old0));
        Assert.Null(s.Bed.Bus.Find(BusSpace.Mmio, s.Old2));
        Assert.Null(s.Bed.Bus.Find(BusSpace.Mmio, s.New2));
        Assert.Null(s.Bed.Bus.Find(BusSpace.Pio, s.Old4));
        Assert.Empty(s.Bed.Slots.Slots);
        Assert.Empty(s.Bed.IoEvents.Registered);
        Assert.Equal(new byte[] { 0xFF }, s.Bed.Bus.Read(BusSpace.Mmio, s.Old0, 1));
        s.Bed.AssertConsistent(o, All);
        s.Bed.ProgramBar(o, Bar0, 0xD100_0000);
        s.Bed.AssertConsistent(o, All);
    }

    [Fact]
    public void Setup_failing_at_each_step_leaves_nothing_behind()
    {
        var reference = new PciTestBed();
        int before = reference.Faults.Count;
        var r = reference.Root.CreateBarResources("dev");
        r.MapIntoBar(2, 0x1000, r.MapFile("/shm", 0x2000));
        r.AddIoEvent(0, 0x10, 4);
        reference.Root.AddDevice("dev", new TestPciDevice(All), r);
        int steps = reference.Faults.Count - before;
        Assert.True(steps >= 7);

        for (int step = 0; step < steps; step++)
        {
            var bed = new PciTestBed();
            var resources = bed.Root.CreateBarResources("dev");
            resources.MapIntoBar(2, 0x1000, resources.MapFile("/shm", 0x2000));
            resources.AddIoEvent(0, 0x10, 4);
            bed.Faults.FailAt(bed.Faults.Count + step);
            Assert.Throws<PciSetupException>(() => bed.Root.AddDevice("dev", new TestPciDevice(All), resources));
            Assert.Empty(bed.Slots.Slots);
            Assert.Empty(bed.IoEvents.Registered);
            Assert.Single(bed.Bus.Mappings(BusSpace.Mmio)); // ECAM only
            Assert.Single(bed.Bus.Mappings(BusSpace.Pio));  // 0xCF8 only
            Assert.Empty(bed.Root.Windows.Mmio32.Allocated);
            Assert.Empty(bed.Root.Windows.Mmio64.Allocated);
            Assert.DoesNotContain(bed.Root.Windows.Pio.Allocated, a => a.Owner.StartsWith("dev"));
        }
    }
}
