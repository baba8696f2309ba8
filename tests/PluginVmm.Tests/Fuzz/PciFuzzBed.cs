using System.Buffers.Binary;
using PluginVmm.Core.Pci;
using PluginVmm.Plugins.Ivshmem;
using PluginVmm.Plugins.PvMemControl;
using PluginVmm.Plugins.PvPanic;
using PluginVmm.Plugins.VirtioBlock;
using PluginVmm.Plugins.VirtioNet;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Testing;
using PluginVmm.Sdk.Virtio;
using PluginVmm.Tests.Pci.Fakes;
using Microsoft.Extensions.Logging.Abstractions;

namespace PluginVmm.Tests.Fuzz;

/// <summary>
/// The real PCI root (allocators, BAR relocation, config handlers) over the in-process recorders of
/// <see cref="PciTestBed"/>, with one device of each of the six device types in slots 1..6: pvpanic, pvmemcontrol,
/// ivshmem (64-bit BAR with a memory slot), virtio-block and virtio-net (64-bit 512 KiB BAR0, MSI-X, one doorbell
/// ioeventfd per queue) created through their real plugin code, and <see cref="VfioLikeDevice"/> (the VFIO plugin
/// needs a host device in sysfs). Each device sits behind a <see cref="DeviceTap"/>.
/// <para>
/// <see cref="Execute"/> runs one guest operation exactly as a vCPU would (through the bus); <see cref="Check"/>
/// asserts the invariants the project promises. The bed shadows, from the config writes it sends, the only state
/// config space hides: an outstanding size probe and a 64-bit low dword waiting for its high dword.
/// </para>
/// </summary>
public sealed class PciFuzzBed : IDisposable
{
    public const int DeviceCount = 6;

    private const uint EnableBit = 0x8000_0000;
    private readonly List<IDisposable> _owned = [];
    private readonly HashSet<int> _hostFenced = [];
    private readonly InMemoryGuestMemory _memory = new(0x1_0000);

    /// <summary>Per device, per BAR index: what the guest's writes left pending in config space.</summary>
    internal sealed class BarShadow
    {
        public bool ProbingLow, ProbingHigh, LowPending;
    }

    public sealed class Device(int slot, string name, DeviceTap tap, BarResources resources, int resourceCount, int? msixCapability)
    {
        public int Slot { get; } = slot;

        public string Name { get; } = name;

        public DeviceTap Tap { get; } = tap;

        public BarResources Resources { get; } = resources;

        /// <summary>Memory slots + ioeventfds the device registers (all of them are placed while it is alive).</summary>
        public int ResourceCount { get; } = resourceCount;

        public int? MsixCapability { get; } = msixCapability;

        public IReadOnlyList<PciBarSpec> Specs { get; } = [.. tap.Inner.Bars.OrderBy(b => b.Index)];

        internal BarShadow[] Shadow { get; } = [.. Enumerable.Range(0, PciBarIndex.Rom + 1).Select(_ => new BarShadow())];
    }

    public PciFuzzBed(string diskImage)
    {
        Add("pvpanic0", ctx => new PvPanicPlugin().Create(new NoOptions(), ctx), 0);
        Add("pvmemcontrol0", ctx => new PvMemControlPlugin().Create(new NoOptions(), ctx), 0);
        Add("ivshmem0", ctx => new IvshmemPlugin().Create(new IvshmemOptions { Path = "/nonexistent/ivshmem", SizeMib = 1 }, ctx), 1);
        Add("vblk0", ctx => new VirtioBlockPlugin().Create(new VirtioBlockOptions { Path = diskImage, Readonly = true }, ctx), 4);
        Add("vnet0", ctx => new VirtioPciTransport(new VirtioNetDevice(null, [0x52, 0x54, 0, 0x12, 0x34, 0x56], NullLogger.Instance), ctx, 0x02, 0x00), 2);
        Add("vfio0", ctx => new VfioLikeDevice(ctx), 2);
    }

    public PciTestBed Bed { get; } = new();

    public PciRoot Root => Bed.Root;

    public List<Device> Devices { get; } = [];

    private void Add(string name, Func<IDeviceContext, IPciDevice> create, int resourceCount)
    {
        var resources = Root.CreateBarResources(name);
        var device = create(new FuzzDeviceContext(name, resources, _memory));
        if (device is IDisposable d) _owned.Add(d);
        int? msix = device switch
        {
            VirtioPciTransport t => t.MsixCapabilityOffset,
            VfioLikeDevice v => v.MsixCapabilityOffset,
            _ => null,
        };
        var tap = new DeviceTap(device);
        int slot = Root.AddDevice(name, tap, resources, Devices.Count + 1);
        Devices.Add(new Device(slot, name, tap, resources, resourceCount, msix));
    }

    public void Dispose()
    {
        foreach (var d in _owned) d.Dispose();
    }

    private Device? At(int bus, int slot, int function) =>
        bus == 0 && function == 0 && slot is >= 1 and <= DeviceCount ? Devices[slot - 1] : null;

    // ---- running operations ------------------------------------------------------------------------------------

    /// <summary>Runs one operation as the guest would. Config reads of absent or fenced functions must read all ones.</summary>
    public void Execute(PciOp op)
    {
        switch (op)
        {
            case ConfigAccess c:
                RunConfig(c);
                break;
            case PortAccess p:
                if (p.Write) GuestWrite(BusSpace.Pio, 0xCF8 + (ulong)p.Port, Bytes(p.Value, 0, p.Size));
                else Bed.Bus.Read(BusSpace.Pio, 0xCF8 + (ulong)p.Port, p.Size);
                break;
            case HostFence f:
                var victim = Devices[f.Device % Devices.Count];
                _hostFenced.Add(victim.Slot);
                Root.Fence(victim.Slot, "fuzz: host fenced it");
                break;
            case BusAccess b:
                var (space, address) = Resolve(b.Address, preferPio: false);
                if (b.Write) GuestWrite(space, address, Bytes64(b.Value, b.Size));
                else Bed.Bus.Read(space, address, b.Size);
                break;
        }
    }

    private void RunConfig(ConfigAccess c)
    {
        var target = At(c.Bus, c.Device, c.Function);
        int register = c.Register.MsixRelative ? ((target?.MsixCapability ?? 0x40) / 4 + c.Register.Number) : c.Register.Number;
        ulong address;
        BusSpace space;
        if (c.Path == ConfigPath.Ecam)
        {
            space = BusSpace.Mmio;
            address = PciLayout.EcamBase + ((ulong)c.Bus << 20 | (ulong)c.Device << 15 | (ulong)c.Function << 12 | (ulong)register * 4) + (ulong)c.Offset;
        }
        else
        {
            register &= 0x3F; // CONFIG_ADDRESS has six register bits
            uint latch = EnableBit | (uint)c.Bus << 16 | (uint)c.Device << 11 | (uint)c.Function << 8 | (uint)register << 2;
            Bed.Bus.Write(BusSpace.Pio, 0xCF8, Bytes(latch, 0, 4));
            space = BusSpace.Pio;
            address = 0xCFC + (ulong)c.Offset;
        }
        if (c.Write)
        {
            uint value = c.Value.Address is { } a ? AddressHalf(a, target, register) : c.Value.Literal;
            // A dword's bytes at their offset: a word write at +2 carries the value's upper half.
            GuestWrite(space, address, Bytes(value, c.Offset, c.Size));
            return;
        }
        byte[] read = Bed.Bus.Read(space, address, c.Size);
        bool answers = target is not null && !Root.IsFenced(target.Slot) && c.Offset + c.Size <= 4 && c.Size is 1 or 2 or 4;
        if (!answers && c.Device != 0 && read.Any(x => x != 0xFF))
            throw new FuzzInvariantException($"config read of {c} returned {Convert.ToHexString(read)}, expected all ones (absent, fenced or malformed)");
    }

    /// <summary>A guest write; config writes (ECAM or 0xCFC) are shadowed first.</summary>
    private void GuestWrite(BusSpace space, ulong address, byte[] data)
    {
        if (space == BusSpace.Mmio && PciLayout.EcamForSegment(0).Contains(address))
        {
            ulong offset = address - PciLayout.EcamBase;
            if ((offset & 3) + (ulong)data.Length <= 4)
                Shadow((int)(offset >> 20) & 0xFF, (int)(offset >> 15) & 0x1F, (int)(offset >> 12) & 7, (int)(offset >> 2) & 0x3FF, (int)(offset & 3), data);
        }
        else if (space == BusSpace.Pio && address is >= 0xCFC and <= 0xCFF)
        {
            uint latch = Root.ConfigIo.ConfigAddress;
            int offset = (int)(address - 0xCFC);
            if ((latch & EnableBit) != 0 && offset + data.Length <= 4)
                Shadow((int)(latch >> 16) & 0xFF, (int)(latch >> 11) & 0x1F, (int)(latch >> 8) & 7, (int)(latch >> 2) & 0x3F, offset, data);
        }
        Bed.Bus.Write(space, address, data);
    }

    /// <summary>Mirrors PciConfiguration's probe and pending-low-dword rules for a write that will reach a live device.</summary>
    private void Shadow(int bus, int slot, int function, int register, int offset, byte[] data)
    {
        if (At(bus, slot, function) is not { } dev || Root.IsFenced(dev.Slot)) return;
        if (data.Length is not (1 or 2 or 4) || offset % data.Length != 0 || offset + data.Length > 4) return;
        bool full = data.Length == 4;
        uint value = full ? BinaryPrimitives.ReadUInt32LittleEndian(data) : 0;
        foreach (var spec in dev.Specs)
        {
            var s = dev.Shadow[spec.Index];
            int low = spec.Index == PciBarIndex.Rom ? 12 : 4 + spec.Index;
            if (register == low)
            {
                uint typeBits = spec.Kind switch { PciBarKind.Io => 0xFFFF_FFFCu, PciBarKind.Rom => 0xFFFF_F800u, _ => 0xFFFF_FFF0u };
                uint v = spec.Kind == PciBarKind.Rom ? value & ~1u : value;
                s.ProbingLow = full && (v & typeBits) == typeBits;
                if (!s.ProbingLow && spec.Kind == PciBarKind.Memory64) s.LowPending = true;
            }
            else if (spec.Kind == PciBarKind.Memory64 && register == low + 1)
            {
                s.LowPending = false;
                s.ProbingHigh = full && value == 0xFFFF_FFFF;
            }
        }
    }

    private uint AddressHalf(AddressSpec spec, Device? target, int register)
    {
        var bar = target?.Specs.FirstOrDefault(s => (s.Index == PciBarIndex.Rom ? 12 : 4 + s.Index) == register
            || (s.Kind == PciBarKind.Memory64 && 5 + s.Index == register));
        ulong address = spec is AlignedForTarget a && bar is not null ? AlignedFor(a, bar) : Resolve(spec, preferPio: false).Address;
        bool high = bar is { Kind: PciBarKind.Memory64 } && register == 5 + bar.Index;
        return high ? (uint)(address >> 32) : (uint)address;
    }

    private ulong AlignedFor(AlignedForTarget a, PciBarSpec bar)
    {
        var allocator = a.Window switch
        {
            1 => Root.Windows.Mmio32,
            2 => Root.Windows.Mmio64,
            _ => Root.Windows.InitialFor(bar.Kind),
        };
        var window = allocator.Window;
        ulong address = (window.Start + (ulong)((UInt128)window.Length * a.Fraction >> 32)) & ~(bar.Size - 1);
        return address < window.Start ? address + bar.Size : address;
    }

    /// <summary>Where an <see cref="AddressSpec"/> points now, and in which space.</summary>
    public (BusSpace Space, ulong Address) Resolve(AddressSpec spec, bool preferPio)
    {
        switch (spec)
        {
            case FixedAddress f:
                return (preferPio ? BusSpace.Pio : BusSpace.Mmio, f.Address);
            case WindowAddress w:
                var allocator = w.Window switch { 0 => Root.Windows.Pio, 1 => Root.Windows.Mmio32, _ => Root.Windows.Mmio64 };
                var window = allocator.Window;
                ulong offset = (ulong)((UInt128)window.Length * w.Fraction >> 32);
                ulong aligned = (window.Start + offset) & ~((1UL << w.AlignShift) - 1);
                return (w.Window == 0 ? BusSpace.Pio : BusSpace.Mmio, aligned + w.Misalign);
            case AlignedForTarget a:
                return Resolve(new WindowAddress(a.Window, a.Fraction, 12, 0), preferPio);
            case BarAddress b:
                var bars = Root.GetBars(Devices[b.Device % Devices.Count].Slot);
                var bar = bars[b.BarOrdinal % bars.Count];
                return (bar.Kind == PciBarKind.Io ? BusSpace.Pio : BusSpace.Mmio, unchecked(bar.Base + (ulong)b.Delta));
            default:
                throw new ArgumentException($"unknown address spec {spec}");
        }
    }

    private static byte[] Bytes(uint dword, int offset, int size)
    {
        var bytes = new byte[size];
        for (int i = 0; i < size; i++) bytes[i] = (byte)(dword >> ((offset + i) % 4 * 8));
        return bytes;
    }

    private static byte[] Bytes64(ulong value, int size)
    {
        var bytes = new byte[size];
        for (int i = 0; i < size; i++) bytes[i] = (byte)(value >> (i * 8));
        return bytes;
    }

    // ---- invariants --------------------------------------------------------------------------------------------

    /// <summary>The core's base of every BAR of every device, in a fixed order.</summary>
    public ulong[] BarBases() => [.. Devices.SelectMany(d => Root.GetBars(d.Slot).OrderBy(b => b.Index).Select(b => b.Base))];

    /// <summary>The devices fenced now (a fenced device must not be called again).</summary>
    public bool[] FencedNow() => [.. Devices.Select(d => Root.IsFenced(d.Slot))];

    /// <summary>Resets the taps before an operation.</summary>
    public void ResetTaps()
    {
        foreach (var d in Devices) d.Tap.Reset();
    }

    /// <summary>
    /// Every invariant, after an operation that started with <paramref name="fencedBefore"/> fenced. Throws
    /// <see cref="FuzzInvariantException"/> naming the first one broken.
    /// </summary>
    public void Check(bool[] fencedBefore)
    {
        for (int i = 0; i < Devices.Count; i++)
            if (fencedBefore[i] && Devices[i].Tap.Calls != 0)
                Fail($"{Devices[i].Name} was fenced but the core called into it {Devices[i].Tap.Calls} times");

        // The bed's devices are correct: only the host may fence one. A guest that gets a device fenced found a bug
        // in the device or in the core (a false alarm of the read-back check, a device exception).
        foreach (var dev in Devices)
            if (Root.IsFenced(dev.Slot) && !_hostFenced.Contains(dev.Slot))
                Fail($"{dev.Name} was fenced by guest input: {Bed.Logger.At(Microsoft.Extensions.Logging.LogLevel.Error).LastOrDefault()}");

        if (Root.CheckConsistency() is { Count: > 0 } problems) Fail("PciRoot.CheckConsistency: " + string.Join("; ", problems));

        var reservations = new Dictionary<string, List<AddressRange>>
        {
            [Root.Windows.Pio.Name] = PciLayout.PioWindow.Overlaps(PciLayout.ConfigIoPorts) ? [PciLayout.ConfigIoPorts] : [],
            [Root.Windows.Mmio32.Name] = [],
            [Root.Windows.Mmio64.Name] = [],
        };
        var mappings = new Dictionary<BusSpace, List<AddressRange>>
        {
            [BusSpace.Pio] = [PciLayout.ConfigIoPorts],
            [BusSpace.Mmio] = [PciLayout.EcamForSegment(0)],
        };
        var slots = new List<(ulong Address, ulong Length)>();
        var ioEvents = new List<(BusSpace Space, ulong Address)>();

        foreach (var dev in Devices)
        {
            bool fenced = Root.IsFenced(dev.Slot);
            var bars = Root.GetBars(dev.Slot);
            if (bars.Count != dev.Specs.Count) Fail($"{dev.Name}: the core has {bars.Count} BARs, the device declares {dev.Specs.Count}");
            foreach (var bar in bars)
            {
                var range = AddressRange.FromBaseSize(bar.Base, bar.Size);
                var legal = Root.Windows.LegalFor(bar.Kind);
                if (!legal.Any(a => a.Name == bar.Window && a.Window.Contains(range)))
                    Fail($"{dev.Name} {PciBarIndex.Name(bar.Index)} {range} is not inside a window legal for {bar.Kind} (recorded in {bar.Window})");
                if (bar.Base % bar.Size != 0) Fail($"{dev.Name} {PciBarIndex.Name(bar.Index)} {range} is not naturally aligned");
                reservations[bar.Window].Add(range); // fenced devices keep their reservations
                if (!fenced) mappings[bar.Kind == PciBarKind.Io ? BusSpace.Pio : BusSpace.Mmio].Add(range);
            }

            var registered = dev.Resources.RegisteredResources();
            if (fenced)
            {
                if (registered.Count != 0) Fail($"{dev.Name} is fenced but still has {registered.Count} resources registered");
                if (Bed.ReadConfig(dev.Slot, 0) != 0xFFFF_FFFF) Fail($"{dev.Name} is fenced but its config space answers");
                continue;
            }
            if (registered.Count != dev.ResourceCount) Fail($"{dev.Name} has {registered.Count} resources registered, expected {dev.ResourceCount}");
            foreach (var r in registered)
            {
                var bar = bars.Single(b => b.Index == r.Bar);
                var barRange = AddressRange.FromBaseSize(bar.Base, bar.Size);
                if (!barRange.Contains(AddressRange.FromBaseSize(r.Address, Math.Max(r.Length, 1))))
                    Fail($"{dev.Name}: a resource at 0x{r.Address:x} (+0x{r.Length:x}) is outside {PciBarIndex.Name(r.Bar)} {barRange}");
                if (r.Length >= 0x1000) slots.Add((r.Address, r.Length));
                else ioEvents.Add((r.Space, r.Address));
            }
            CheckConfigSpace(dev, bars);
        }

        foreach (var allocator in new[] { Root.Windows.Pio, Root.Windows.Mmio32, Root.Windows.Mmio64 })
            SameRanges($"allocator {allocator.Name}", allocator.Allocated.Select(a => a.Range), reservations[allocator.Name]);
        foreach (var space in new[] { BusSpace.Pio, BusSpace.Mmio })
        {
            var mapped = Bed.Bus.Mappings(space).Select(m => m.Range).OrderBy(r => r.Start).ToList();
            for (int i = 1; i < mapped.Count; i++)
                if (mapped[i].Overlaps(mapped[i - 1])) Fail($"{space} mappings {mapped[i - 1]} and {mapped[i]} overlap");
            SameRanges($"{space} bus", mapped, mappings[space]);
        }
        SameSet("memory slots", Bed.Slots.Slots.Values.Select(s => (s.Address, s.Memory.Size)), slots);
        SameSet("ioeventfds", Bed.IoEvents.Registered.Select(e => (e.Space, e.Address)), ioEvents);

        CheckRouting();
    }

    /// <summary>With decoding on and nothing half-written, config space reports exactly the core's addresses.</summary>
    private void CheckConfigSpace(Device dev, IReadOnlyList<PciBarAssignment> bars)
    {
        uint command = Bed.ReadConfig(dev.Slot, 1);
        foreach (var spec in dev.Specs)
        {
            var s = dev.Shadow[spec.Index];
            bool decoding = (command & (spec.Kind == PciBarKind.Io ? 1u : 2u)) != 0;
            if (!decoding || s.ProbingLow || (spec.Kind == PciBarKind.Memory64 && (s.ProbingHigh || s.LowPending))) continue;
            ulong reported = Bed.ConfigBarAddress(dev.Slot, spec);
            ulong core = bars.Single(b => b.Index == spec.Index).Base;
            if (reported != core)
                Fail($"{dev.Name} {PciBarIndex.Name(spec.Index)}: config space reports 0x{reported:x} with decoding on, the core maps 0x{core:x}");
        }
    }

    /// <summary>A read of the last byte of every BAR reaches its device, and only it, exactly when it decodes.</summary>
    private void CheckRouting()
    {
        foreach (var dev in Devices)
        {
            if (Root.IsFenced(dev.Slot)) continue;
            uint command = Bed.ReadConfig(dev.Slot, 1);
            bool romEnabled = (Bed.ReadConfig(dev.Slot, 12) & 1) != 0;
            foreach (var bar in Root.GetBars(dev.Slot))
            {
                bool decoding = bar.Kind switch
                {
                    PciBarKind.Io => (command & 1) != 0,
                    PciBarKind.Rom => (command & 2) != 0 && romEnabled,
                    _ => (command & 2) != 0,
                };
                ResetTaps();
                ulong last = bar.Base + bar.Size - 1;
                byte[] data = Bed.Bus.Read(bar.Kind == PciBarKind.Io ? BusSpace.Pio : BusSpace.Mmio, last, 1);
                var hits = Devices.Where(d => d.Tap.BarReads.Count > 0).ToList();
                if (!decoding)
                {
                    if (hits.Count != 0 || data[0] != 0xFF)
                        Fail($"{dev.Name} {PciBarIndex.Name(bar.Index)} does not decode, yet a read at 0x{last:x} reached {string.Join(", ", hits.Select(h => h.Name))} / read 0x{data[0]:x2}");
                    continue;
                }
                if (hits.Count != 1 || hits[0] != dev || dev.Tap.BarReads.Count != 1 || dev.Tap.BarReads[0] != (bar.Index, bar.Size - 1, 1))
                    Fail($"a read at 0x{last:x} (last byte of {dev.Name} {PciBarIndex.Name(bar.Index)}) reached [{string.Join(", ", hits.Select(h => $"{h.Name}: {string.Join(" ", h.Tap.BarReads)}"))}]");
            }
        }
        ResetTaps();
    }

    private static void SameRanges(string what, IEnumerable<AddressRange> actual, IEnumerable<AddressRange> expected)
    {
        var a = actual.OrderBy(r => r.Start).ToList();
        var e = expected.OrderBy(r => r.Start).ToList();
        if (!a.SequenceEqual(e))
            Fail($"{what} holds [{string.Join(" ", a)}] but the core's BARs say [{string.Join(" ", e)}]");
    }

    private static void SameSet<T>(string what, IEnumerable<T> actual, IEnumerable<T> expected)
    {
        var a = actual.Select(x => x!.ToString()).Order().ToList();
        var e = expected.Select(x => x!.ToString()).Order().ToList();
        if (!a.SequenceEqual(e))
            Fail($"{what} registered [{string.Join(" ", a)}] but the live devices' BARs say [{string.Join(" ", e)}]");
    }

    private static void Fail(string message) => throw new FuzzInvariantException(message);
}

/// <summary>An invariant of the PCI layer did not hold.</summary>
public sealed class FuzzInvariantException(string message) : Exception(message);
