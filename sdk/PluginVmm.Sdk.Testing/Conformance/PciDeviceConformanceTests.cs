using PluginVmm.Sdk.Pci;
using Xunit;

namespace PluginVmm.Sdk.Testing.Conformance;

/// <summary>
/// The config-space rules every PCI device plugin must follow, as xunit facts. Derive a test class, supply the
/// device in <see cref="CreateDevice"/> (usually through your <c>IDevicePlugin.Create</c> with the given
/// context) and every fact below runs against it:
/// <code>
/// public sealed class WidgetConformance : PciDeviceConformanceTests
/// {
///     protected override IPciDevice CreateDevice(TestDeviceContext context) =&gt; new WidgetPlugin().Create(new WidgetOptions(), context);
/// }
/// </code>
/// Each fact gets a fresh device (xunit creates the class per test) whose BARs were placed the way the core does
/// (<see cref="PciConfigDriver.AssignBars"/>) with decoding on, driven by a <see cref="PciConfigDriver"/> that
/// refuses moves the core would refuse (<see cref="PciConfigDriver.RefuseLikeTheCore"/>). A class that cannot
/// run here declares <c>public static string? UnavailableReason</c> (see <see cref="ConformanceFactAttribute"/>).
/// </summary>
public abstract class PciDeviceConformanceTests : IDisposable
{
    private IPciDevice? _device;
    private PciConfigDriver? _driver;
    private IReadOnlyDictionary<int, ulong>? _placed;

    /// <summary>Creates the guest RAM (1 MiB at 0) and the device context the device gets.</summary>
    protected PciDeviceConformanceTests()
    {
        Memory = new InMemoryGuestMemory(1 << 20);
        Context = new TestDeviceContext(Memory) { Name = "conformance0" };
    }

    /// <summary>Guest RAM the device sees.</summary>
    protected InMemoryGuestMemory Memory { get; }

    /// <summary>The context handed to <see cref="CreateDevice"/> (recording interrupts, fake BAR resources).</summary>
    protected TestDeviceContext Context { get; }

    /// <summary>Creates the device under test with <paramref name="context"/>.</summary>
    protected abstract IPciDevice CreateDevice(TestDeviceContext context);

    /// <summary>The device, created on first use.</summary>
    protected IPciDevice Device => _device ??= CreateDevice(Context) ?? throw new InvalidOperationException("CreateDevice returned null");

    /// <summary>The device with its BARs placed and decoding on, as the guest first sees it.</summary>
    protected PciConfigDriver Driver
    {
        get
        {
            if (_driver is not null) return _driver;
            var driver = new PciConfigDriver(Device);
            _placed = driver.AssignBars();
            driver.EnableDecoding();
            driver.RefuseLikeTheCore();
            driver.Moves.Clear();
            return _driver = driver;
        }
    }

    /// <summary>Where each BAR was placed.</summary>
    protected IReadOnlyDictionary<int, ulong> Placed
    {
        get
        {
            _ = Driver;
            return _placed!;
        }
    }

    /// <summary>Disposes the device when it is disposable.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Disposes the device when it is disposable.</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (disposing) (_device as IDisposable)?.Dispose();
    }

    /// <summary>The declared BARs are valid, use distinct slots and do not change between reads.</summary>
    [ConformanceFact]
    public void Declared_bars_are_valid_and_stable()
    {
        var bars = Device.Bars.ToList();
        var used = new HashSet<int>();
        foreach (var bar in bars)
        {
            Assert.Null(bar.Validate());
            Assert.True(used.Add(bar.Index), $"slot {bar.Index} is used twice");
            if (bar.Kind == PciBarKind.Memory64) Assert.True(used.Add(bar.Index + 1), $"slot {bar.Index + 1} (high half of {PciBarIndex.Name(bar.Index)}) is used twice");
        }
        Assert.Equal(bars, Device.Bars.ToList());
    }

    /// <summary>Vendor/device ID, class, revision, header type, subsystem IDs, capability pointer and interrupt pin ignore writes.</summary>
    [ConformanceFact]
    public void Identity_registers_are_read_only()
    {
        var d = Driver;
        uint id = d.Read32(0x00);
        Assert.NotEqual(0xFFFFu, id & 0xFFFF);
        Assert.NotEqual(0u, id & 0xFFFF);
        Assert.Equal(0, d.Read8(0x0E) & 0x7F); // header type 0
        (int Offset, uint Mask)[] readOnly =
        [
            (0x00, 0xFFFF_FFFF), (0x08, 0xFFFF_FFFF), (0x0C, 0x00FF_0000), (0x2C, 0xFFFF_FFFF), (0x34, 0x0000_00FF), (0x3C, 0x0000_FF00),
        ];
        foreach (var (offset, mask) in readOnly)
        {
            uint before = d.Read32(offset) & mask;
            foreach (uint value in new[] { 0xFFFF_FFFFu, 0u, ~before })
            {
                d.Write32(offset, value);
                Assert.True((d.Read32(offset) & mask) == before, $"config 0x{offset:x2} changed to 0x{d.Read32(offset):x8} after writing 0x{value:x8} (was 0x{before:x8} under mask 0x{mask:x8})");
                d.Write16(offset, (ushort)value);
                d.Write(offset + 3, value, 1);
                Assert.True((d.Read32(offset) & mask) == before, $"config 0x{offset:x2} changed by a partial write of 0x{value:x8}");
            }
        }
        Assert.Empty(d.Moves);
    }

    /// <summary>COMMAND keeps only the writable bits, keeps the decode enables the device needs, and leaves STATUS alone.</summary>
    [ConformanceFact]
    public void Command_keeps_only_writable_bits()
    {
        var d = Driver;
        ushort status = d.Read16(0x06);
        d.Write16(0x04, 0xFFFF);
        ushort command = d.Read16(0x04);
        Assert.True((command & ~PciConfiguration.CommandWritableBits) == 0, $"COMMAND reads 0x{command:x4}: bits outside 0x{PciConfiguration.CommandWritableBits:x4} are set");
        if (Device.Bars.Any(b => b.Kind != PciBarKind.Io)) Assert.True((command & 0x2) != 0, "Memory Space Enable does not stick");
        if (Device.Bars.Any(b => b.Kind == PciBarKind.Io)) Assert.True((command & 0x1) != 0, "I/O Space Enable does not stick");
        Assert.Equal(status & ~0x0010, d.Read16(0x06) & ~0x0010);
        Assert.Equal((status & 0x10) != 0, d.Read8(0x34) != 0); // capability list bit matches the pointer
        d.Write16(0x04, 0);
        Assert.Equal(0, d.Read16(0x04) & 0x3);
        Assert.Empty(d.Moves);
    }

    /// <summary>BAR slots the device does not declare read 0 and size to 0 (so firmware sees no BAR).</summary>
    [ConformanceFact]
    public void Unimplemented_bars_read_zero()
    {
        var d = Driver;
        var used = new HashSet<int>();
        foreach (var bar in Device.Bars)
        {
            used.Add(bar.Index);
            if (bar.Kind == PciBarKind.Memory64) used.Add(bar.Index + 1);
        }
        for (int slot = 0; slot < 6; slot++)
        {
            if (used.Contains(slot)) continue;
            int reg = 0x10 + slot * 4;
            Assert.Equal(0u, d.Read32(reg));
            d.Write32(reg, 0xFFFF_FFFF);
            Assert.True(d.Read32(reg) == 0, $"unimplemented BAR{slot} reads 0x{d.Read32(reg):x8} after an all-ones probe");
            d.Write32(reg, 0xD000_0000);
            Assert.Equal(0u, d.Read32(reg));
        }
        if (!used.Contains(PciBarIndex.Rom))
        {
            Assert.Equal(0u, d.Read32(0x30));
            d.Write32(0x30, 0xFFFF_F801);
            Assert.True(d.Read32(0x30) == 0, $"no ROM declared, but 0x30 reads 0x{d.Read32(0x30):x8} after a probe");
        }
        Assert.Empty(d.Moves);
    }

    /// <summary>Sizing each BAR (all-ones probe, both halves of a 64-bit BAR, the ROM's 0xFFFFF800) gives its size and type, moves nothing, and restores.</summary>
    [ConformanceFact]
    public void Bar_sizing_gives_the_declared_size_and_type()
    {
        var d = Driver;
        foreach (var bar in Device.Bars)
        {
            string name = PciBarIndex.Name(bar.Index);
            Assert.True(d.ProbeBarSize(bar.Index) == bar.Size, $"{name} probes as 0x{d.ProbeBarSize(bar.Index):x}, declared 0x{bar.Size:x}");
            Assert.True(d.BarAddress(bar.Index) == Placed[bar.Index], $"{name} reads 0x{d.BarAddress(bar.Index):x} after sizing, placed at 0x{Placed[bar.Index]:x}");
            if (bar.Kind == PciBarKind.Rom) continue;
            uint low = d.Read32(0x10 + bar.Index * 4);
            uint expectedType = bar.Kind switch
            {
                PciBarKind.Io => 0x1u,
                PciBarKind.Memory64 => 0x4u | (bar.Prefetchable ? 0x8u : 0u),
                _ => bar.Prefetchable ? 0x8u : 0u,
            };
            uint typeMask = bar.Kind == PciBarKind.Io ? 0x3u : 0xFu;
            Assert.True((low & typeMask) == expectedType, $"{name} type bits are 0x{low & typeMask:x}, expected 0x{expectedType:x} for {bar.Kind}{(bar.Prefetchable ? " prefetchable" : "")}");
        }
        // Linux sizes with decoding off; a probe with decoding on must not be taken as a move either.
        d.DisableDecoding();
        foreach (var bar in Device.Bars) d.ProbeBarSize(bar.Index);
        d.EnableDecoding();
        Assert.Empty(d.Moves);
    }

    /// <summary>A BAR written with decoding on is reported as one move (a 64-bit BAR after its high half) and reads the new address once MoveBar ran.</summary>
    [ConformanceFact]
    public void Bar_relocation_is_reported_and_committed()
    {
        var d = Driver;
        foreach (var bar in Device.Bars)
        {
            string name = PciBarIndex.Name(bar.Index);
            ulong old = d.BarAddress(bar.Index);
            ulong target = Target(bar);
            d.Moves.Clear();
            if (bar.Kind == PciBarKind.Memory64)
            {
                int reg = 0x10 + bar.Index * 4;
                d.Write32(reg, (uint)target);
                Assert.True(d.Moves.Count == 0, $"{name}: the low dword alone was reported as a move");
                d.Write32(reg + 4, (uint)(target >> 32));
            }
            else
            {
                d.ProgramBar(bar.Index, target);
            }
            var move = Assert.Single(d.Moves);
            Assert.Equal(new BarReprogrammingParams(bar.Index, bar.Kind, old, target, bar.Size), move);
            Assert.Empty(d.Refused);
            Assert.True(d.BarAddress(bar.Index) == target, $"{name} reads 0x{d.BarAddress(bar.Index):x} after moving to 0x{target:x}");
            d.Moves.Clear();
            d.ProgramBar(bar.Index, target);
            Assert.True(d.Moves.Count == 0, $"{name}: writing its current address again was reported as a move");
        }
    }

    /// <summary>BARs rewritten with decoding off are not moves until decoding is turned on, then all of them move together.</summary>
    [ConformanceFact]
    public void Bars_written_with_decoding_off_move_when_it_is_turned_on()
    {
        var d = Driver;
        if (Device.Bars.Count == 0) return;
        d.DisableDecoding();
        foreach (var bar in Device.Bars) d.ProgramBar(bar.Index, Target(bar));
        Assert.Empty(d.Moves);
        d.EnableDecoding();
        Assert.Equal(Device.Bars.Select(b => b.Index).Order(), d.Moves.Select(m => m.Index).Order());
        Assert.Empty(d.Refused);
        foreach (var bar in Device.Bars) Assert.Equal(Target(bar), d.BarAddress(bar.Index));
    }

    /// <summary>
    /// The rollback cases: a BAR written out of range (into RAM, onto the LAPIC, beyond the address width, below the
    /// I/O window) or onto another BAR of the device is refused and RestoreBarAddr puts back the old address of that
    /// BAR, by index — both halves of a 64-bit BAR, the ROM with its enable bit — leaving every other BAR alone and no
    /// move pending.
    /// </summary>
    [ConformanceFact]
    public void Refused_moves_roll_back_by_index()
    {
        var d = Driver;
        foreach (var bar in Device.Bars)
        {
            foreach (var (what, target) in HostileTargets(bar))
            {
                var before = Device.Bars.ToDictionary(b => b.Index, b => d.BarAddress(b.Index));
                uint romEnable = d.Read32(0x30) & 1;
                d.Moves.Clear();
                d.Refused.Clear();
                d.ProgramBar(bar.Index, target);
                string name = $"{PciBarIndex.Name(bar.Index)} {what} (0x{target:x})";
                var refused = Assert.Single(d.Refused);
                Assert.Equal(bar.Index, refused.Index);
                Assert.Equal(before[bar.Index], refused.OldBase);
                foreach (var other in Device.Bars)
                    Assert.True(d.BarAddress(other.Index) == before[other.Index],
                        $"{name}: {PciBarIndex.Name(other.Index)} reads 0x{d.BarAddress(other.Index):x} after the rollback, was 0x{before[other.Index]:x}");
                if (bar.Kind == PciBarKind.Memory64)
                    Assert.Equal((uint)(before[bar.Index] >> 32), d.Read32(0x14 + bar.Index * 4));
                Assert.Equal(romEnable, d.Read32(0x30) & 1);
                d.Moves.Clear();
                d.EnableDecoding();
                Assert.True(d.Moves.Count == 0, $"{name}: a move is still pending after the rollback");
            }
        }
    }

    /// <summary>Reading any config register never throws, and BAR reads of 1, 2, 4 and 8 bytes at both ends of each BAR do not either.</summary>
    [ConformanceFact]
    public void Reads_of_config_space_and_bars_do_not_throw()
    {
        var d = Driver;
        for (int register = 0; register < PciConfiguration.RegisterCount; register++) Device.ReadConfigRegister(register);
        foreach (var bar in Device.Bars)
        {
            foreach (int size in new[] { 1, 2, 4, 8 })
            {
                if ((ulong)size > bar.Size) continue;
                d.BarRead(bar.Index, 0, size);
                d.BarRead(bar.Index, bar.Size - (ulong)size, size);
            }
        }
    }

    /// <summary>A legal address for <paramref name="bar"/> that differs from its placement (a different high dword for a 64-bit BAR) and overlaps no other BAR.</summary>
    protected ulong Target(PciBarSpec bar)
    {
        ulong start = bar.Kind switch
        {
            PciBarKind.Io => 0x8000,
            PciBarKind.Memory64 => 0x50_0000_0000,
            _ => 0xE000_0000,
        };
        ulong candidate = (start + bar.Size - 1) & ~(bar.Size - 1);
        foreach (var other in Device.Bars)
        {
            if (other.Index == bar.Index || (other.Kind == PciBarKind.Io) != (bar.Kind == PciBarKind.Io)) continue;
            ulong otherTarget = other.Index < bar.Index ? Target(other) : 0;
            if (otherTarget != 0 && candidate < otherTarget + other.Size && otherTarget < candidate + bar.Size)
                candidate = (otherTarget + other.Size + bar.Size - 1) & ~(bar.Size - 1);
        }
        return candidate;
    }

    private List<(string What, ulong Target)> HostileTargets(PciBarSpec bar)
    {
        ulong Down(ulong address) => address & ~(bar.Size - 1);
        var targets = new List<(string, ulong)>();
        if (bar.Kind == PciBarKind.Io)
        {
            targets.Add(("below the I/O window", 0));
        }
        else
        {
            targets.Add(("into RAM", Down(0x10_0000)));
            targets.Add(("onto the LAPIC", Down(0xFEE0_0000)));
            if (bar.Kind == PciBarKind.Memory64)
            {
                targets.Add(("beyond the address width", Down(PciConfigDriver.Mmio64End)));
                targets.Add(("at 0xfffffff000000000", Down(0xFFFF_FFF0_0000_0000)));
            }
        }
        foreach (var other in Device.Bars)
        {
            if (other.Index == bar.Index || (other.Kind == PciBarKind.Io) != (bar.Kind == PciBarKind.Io)) continue;
            targets.Add(($"onto {PciBarIndex.Name(other.Index)}", Down(Placed[other.Index])));
        }
        return targets;
    }
}
