using System.Buffers.Binary;
using PluginVmm.Core.Pci;
using PluginVmm.Sdk.Pci;
using Xunit;

namespace PluginVmm.Tests.Pci.Fakes;

/// <summary>
/// A PCI root with KVM and the buses replaced by in-process recorders: phys_bits 39, 2 GiB of RAM. Config access
/// goes through the real ECAM handler as mapped on the bus.
/// </summary>
public sealed class PciTestBed
{
    public const int PhysBits = 39;
    public const ulong RamEnd = 0x8000_0000;

    public PciTestBed()
    {
        Layout = new PciLayout(PhysBits, RamEnd);
        Bus = new RecordingBus(Faults);
        Slots = new RecordingMemorySlots(Faults);
        IoEvents = new RecordingIoEvents(Faults);
        Root = new PciRoot(Layout, Bus, Slots, IoEvents, Logger);
        Bus.Map(BusSpace.Pio, PciLayout.ConfigIoPorts, Root.ConfigIo);
        Bus.Map(BusSpace.Mmio, PciLayout.EcamForSegment(0), Root.Ecam);
    }

    public FaultInjector Faults { get; } = new();

    public CapturingLogger Logger { get; } = new();

    public PciLayout Layout { get; }

    public RecordingBus Bus { get; }

    public RecordingMemorySlots Slots { get; }

    public RecordingIoEvents IoEvents { get; }

    public PciRoot Root { get; }

    public static ulong EcamOffset(int dev, int fn, int register) => (ulong)dev << 15 | (ulong)fn << 12 | (ulong)register * 4;

    public uint ReadConfig(int dev, int register, int fn = 0) =>
        Bus.Read32(BusSpace.Mmio, PciLayout.EcamBase + EcamOffset(dev, fn, register));

    public void WriteConfig(int dev, int register, uint value, int fn = 0)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        Bus.Write(BusSpace.Mmio, PciLayout.EcamBase + EcamOffset(dev, fn, register), b);
    }

    public void WriteCommand(int dev, ushort value)
    {
        Span<byte> b = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(b, value);
        Bus.Write(BusSpace.Mmio, PciLayout.EcamBase + EcamOffset(dev, 0, 1), b);
    }

    /// <summary>What a guest writes to move a BAR: one dword, or low then high for a 64-bit BAR.</summary>
    public void ProgramBar(int dev, PciBarSpec spec, ulong address)
    {
        if (spec.Index == PciBarIndex.Rom)
        {
            WriteConfig(dev, 12, (uint)address | (ReadConfig(dev, 12) & 1));
            return;
        }
        WriteConfig(dev, 4 + spec.Index, (uint)address);
        if (spec.Kind == PciBarKind.Memory64) WriteConfig(dev, 5 + spec.Index, (uint)(address >> 32));
    }

    /// <summary>Linux's way for a 64-bit BAR: decoding off, low, high, decoding on.</summary>
    public void ProgramBarWithDecodingOff(int dev, PciBarSpec spec, ulong address)
    {
        ushort command = (ushort)ReadConfig(dev, 1);
        WriteCommand(dev, (ushort)(command & ~0x3));
        ProgramBar(dev, spec, address);
        WriteCommand(dev, command);
    }

    public ulong ConfigBarAddress(int dev, PciBarSpec spec) => spec.Kind switch
    {
        PciBarKind.Io => ReadConfig(dev, 4 + spec.Index) & 0xFFFF_FFFCu,
        PciBarKind.Memory32 => ReadConfig(dev, 4 + spec.Index) & 0xFFFF_FFF0u,
        PciBarKind.Memory64 => (ulong)ReadConfig(dev, 5 + spec.Index) << 32 | (ReadConfig(dev, 4 + spec.Index) & 0xFFFF_FFF0u),
        _ => ReadConfig(dev, 12) & 0xFFFF_F800u,
    };

    public ulong CoreBase(int dev, int index) => Root.GetBars(dev).Single(b => b.Index == index).Base;

    public AddressAllocator AllocatorNamed(string name) =>
        new[] { Root.Windows.Pio, Root.Windows.Mmio32, Root.Windows.Mmio64 }.Single(a => a.Name == name);

    /// <summary>
    /// config space == core record == bus == allocator == resources, for every BAR of the device; and the device
    /// is alive.
    /// </summary>
    public void AssertConsistent(int dev, IEnumerable<PciBarSpec> specs, BarResources? resources = null)
    {
        Assert.False(Root.IsFenced(dev), "device was fenced");
        Assert.Empty(Root.CheckConsistency());
        foreach (var spec in specs)
        {
            var bar = Root.GetBars(dev).Single(b => b.Index == spec.Index);
            var range = AddressRange.FromBaseSize(bar.Base, bar.Size);
            Assert.Equal(bar.Base, ConfigBarAddress(dev, spec));
            var space = spec.Kind == PciBarKind.Io ? BusSpace.Pio : BusSpace.Mmio;
            Assert.True(Bus.IsMapped(space, range), $"{PciBarIndex.Name(spec.Index)} not mapped at {range}");
            Assert.True(AllocatorNamed(bar.Window).IsAllocated(range), $"{PciBarIndex.Name(spec.Index)} not reserved at {range}");
            if (resources is not null)
            {
                Assert.Equal(bar.Base, resources.PlacedAt(spec.Index));
                foreach (var r in resources.RegisteredResources().Where(r => r.Bar == spec.Index))
                    Assert.True(range.Contains(AddressRange.FromBaseSize(r.Address, Math.Max(r.Length, 1))));
            }
        }
        if (resources is not null)
        {
            // The recorders hold exactly what BarResources believes is registered.
            var registered = resources.RegisteredResources();
            Assert.Equal(registered.Count(r => r.Space == BusSpace.Mmio && r.Length >= 0x1000), Slots.Slots.Count);
            foreach (var s in Slots.Slots.Values) Assert.Contains(registered, r => r.Address == s.Address && r.Length == s.Memory.Size);
            foreach (var e in IoEvents.Registered) Assert.Contains(registered, r => r.Address == e.Address && r.Space == e.Space);
        }
    }
}
