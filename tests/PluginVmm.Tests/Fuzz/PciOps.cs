using CsCheck;

namespace PluginVmm.Tests.Fuzz;

/// <summary>How a config access reaches the PCI root: ECAM (MMIO) or the 0xCF8/0xCFC port pair.</summary>
public enum ConfigPath
{
    Ecam,
    Ports,
}

/// <summary>
/// A guest address, resolved against the bed's state when the operation runs, so a sequence generated up front can
/// still aim at "wherever BAR2 of device 3 is now".
/// </summary>
public abstract record AddressSpec;

/// <summary>A literal address.</summary>
public sealed record FixedAddress(ulong Address) : AddressSpec
{
    public override string ToString() => $"0x{Address:x}";
}

/// <summary>A point of a BAR window (0 PIO, 1 32-bit hole, 2 64-bit area): fraction/2^32 of the way in, aligned down to 2^AlignShift, plus Misalign.</summary>
public sealed record WindowAddress(int Window, uint Fraction, int AlignShift, ulong Misalign) : AddressSpec
{
    public override string ToString() => $"window{Window}@{Fraction / 4294967296.0:F3} align 2^{AlignShift} +0x{Misalign:x}";
}

/// <summary>
/// A naturally aligned address for the BAR the value is written to (fraction/2^32 into window 1 or 2, or the BAR's
/// own kind's window for 0): the moves a well-behaved guest makes. Elsewhere it is a 4 KiB-aligned point of the window.
/// </summary>
public sealed record AlignedForTarget(int Window, uint Fraction) : AddressSpec
{
    public override string ToString() => $"aligned-for-target in window{Window}@{Fraction / 4294967296.0:F3}";
}

/// <summary>The current base of one BAR of one bed device (ordinal into its BAR list), plus a signed delta.</summary>
public sealed record BarAddress(int Device, int BarOrdinal, long Delta) : AddressSpec
{
    public override string ToString() => $"dev#{Device}.bar#{BarOrdinal}{(Delta < 0 ? "-" : "+")}0x{Math.Abs(Delta):x}";
}

/// <summary>
/// A config register: a fixed number, or relative to the target device's MSI-X capability (for devices without
/// one, relative to 0x40, where capabilities start).
/// </summary>
public readonly record struct RegisterSpec(int Number, bool MsixRelative)
{
    public override string ToString() => MsixRelative ? $"msix+{Number}" : $"reg{Number}";
}

/// <summary>
/// A dword value to write: a literal, or an address whose low or high half is taken depending on whether the target
/// register is the high dword of a 64-bit BAR. Sub-dword writes take the bytes of the dword at their offset.
/// </summary>
public readonly record struct ValueSpec(uint Literal, AddressSpec? Address)
{
    public override string ToString() => Address is null ? $"0x{Literal:x}" : $"addr({Address})";
}

/// <summary>One guest operation.</summary>
public abstract record PciOp;

/// <summary>A config read or write of <see cref="Size"/> bytes at byte <see cref="Offset"/> of a register.</summary>
public sealed record ConfigAccess(ConfigPath Path, bool Write, int Bus, int Device, int Function, RegisterSpec Register,
    int Offset, int Size, ValueSpec Value) : PciOp
{
    public override string ToString() =>
        $"{(Write ? "write" : "read")} {Path} {Bus:x2}:{Device:x2}.{Function} {Register}+{Offset} size {Size}{(Write ? $" = {Value}" : "")}";
}

/// <summary>A raw access to port 0xCF8 + <see cref="Port"/> (latch bytes, misaligned data accesses).</summary>
public sealed record PortAccess(bool Write, int Port, int Size, uint Value) : PciOp
{
    public override string ToString() => $"{(Write ? "out" : "in")} 0x{0xCF8 + Port:x} size {Size}{(Write ? $" = 0x{Value:x}" : "")}";
}

/// <summary>A guest MMIO (or, for I/O BARs and the PIO window, port) access anywhere.</summary>
public sealed record BusAccess(bool Write, AddressSpec Address, int Size, ulong Value) : PciOp
{
    public override string ToString() => $"{(Write ? "store" : "load")} {Address} size {Size}{(Write ? $" = 0x{Value:x}" : "")}";
}

/// <summary>
/// Not a guest operation: the host fences a device (as when its worker thread fails), so the invariants about fenced
/// devices (all ones, never called, ranges kept reserved, resources withdrawn) are exercised too.
/// </summary>
public sealed record HostFence(int Device) : PciOp
{
    public override string ToString() => $"host fences dev#{Device}";
}

/// <summary>
/// Generators for <see cref="PciOp"/> sequences, biased towards what matters: BAR, ROM, COMMAND and MSI-X registers,
/// the devices that exist (with some host-bridge, absent-slot, other-function and other-bus accesses), values that
/// are size probes, addresses in and around the windows, other BARs' addresses, RAM, LAPIC/IOAPIC, ECAM, addresses
/// beyond phys_bits and the top of the 64-bit area. Besides single operations they produce the sequences guests
/// actually use: Linux's 64-bit BAR programming (decoding off, low, high, decoding on) and size probes.
/// </summary>
public static class PciOpGen
{
    /// <summary>Devices in the bed (slots 1..DeviceCount).</summary>
    public const int DeviceCount = PciFuzzBed.DeviceCount;

    private static readonly ulong[] InterestingAddresses =
    [
        0, 0x1000, 0xCF8, 0xFFF0, 0x1_0000,                              // PIO: legacy, config ports, top, beyond
        0x9_F000, 0x7FFF_F000, 0x8000_0000,                              // RAM and its end (bed: 2 GiB)
        0xC000_0000, 0xC000_0010, 0xE7FF_F000, 0xE7FF_FFF0, 0xE800_0000, // 32-bit hole edges, ECAM
        0xFEC0_0000, 0xFEE0_0000, 0xFFFF_F000, 0xFFFF_FFF0, 0xFFFF_FFFF, // IOAPIC, LAPIC, top of 4 GiB, probes
        0x1_0000_0000, 0x2_0000_0000,                                    // start of the 64-bit area
        (1UL << 39) - (64UL << 10) - (1UL << 20) - 0x10_0000,            // top of the 64-bit area (bed phys_bits 39)
        (1UL << 39) - (64UL << 10) - (1UL << 20) - 0x8_0000,
        (1UL << 39) - (64UL << 10) - (1UL << 20),                        // platform area
        (1UL << 39) - (64UL << 10), 1UL << 39, (1UL << 39) + 0x1000,     // top hole, beyond phys_bits
        1UL << 52, 0xFFFF_FFFF_0000_0000, 0xFFFF_FFFF_FFFF_F000, 0xFFFF_FFFF_FFFF_FFF0, ulong.MaxValue,
    ];

    private static readonly uint[] InterestingValues =
    [
        0, 1, 2, 3, 4, 6, 7, 0x10, 0x400, 0x403, 0xFFFF, 0x0010_0007,
        0xFFFF_FFFF, 0xFFFF_FFF0, 0xFFFF_FFFE, 0xFFFF_FFFC, 0xFFFF_F800, 0xFFFF_F801, 0xFFFF_FFF1,
        0x8000_0000, 0xC000_0000, 0x4000_0000, 0x8000_0007, 0xC000_0001, 0x0000_0001,
    ];

    private static readonly long[] Deltas =
    [
        0, 0, 0, 1, 2, 4, 8, 0x10, 0x20, 0x800, 0x1000, 0x4000, 0x1_0000, 0x2_0000, 0x8_0000, 0x10_0000, 0x80_0000,
        -4, -0x10, -0x1000, -0x8_0000, -0x10_0000,
    ];

    // Mostly alignments that suit some BAR (16 B .. 1 MiB, and coarser), so moves are often accepted.
    private static readonly Gen<int> AlignShift = Gen.Frequency((3, Gen.OneOf(4, 8, 12, 14, 16, 17, 19, 20, 21, 24, 28, 32)), (1, Gen.Int[2, 34]));

    public static readonly Gen<AddressSpec> Address = Gen.Frequency<AddressSpec>(
        (5, Gen.Select(Gen.Int[0, DeviceCount - 1], Gen.Int[0, 3], Gen.OneOf(Deltas), (d, b, delta) => (AddressSpec)new BarAddress(d, b, delta))),
        (4, Gen.Select(Gen.Int[0, 2], Gen.UInt, AlignShift, Gen.OneOf(0UL, 0UL, 0UL, 0UL, 0UL, 1UL, 4UL, 0x10UL, 0x800UL),
            (w, f, a, m) => (AddressSpec)new WindowAddress(w, f, a, m))),
        (4, Gen.Select(Gen.Int[0, 2], Gen.UInt, (w, f) => (AddressSpec)new AlignedForTarget(w, f))),
        (3, Gen.OneOf(InterestingAddresses).Select(a => (AddressSpec)new FixedAddress(a))),
        (1, Gen.ULong.Select(a => (AddressSpec)new FixedAddress(a))));

    private static readonly Gen<ValueSpec> Value = Gen.Frequency(
        (6, Address.Select(a => new ValueSpec(0, a))),
        (3, Gen.OneOf(InterestingValues).Select(v => new ValueSpec(v, null))),
        (1, Gen.UInt.Select(v => new ValueSpec(v, null))));

    private static readonly Gen<RegisterSpec> Register = Gen.Frequency(
        (6, Gen.Int[4, 9].Select(r => new RegisterSpec(r, false))),
        (2, Gen.Const(new RegisterSpec(12, false))),
        (4, Gen.Const(new RegisterSpec(1, false))),
        (2, Gen.Int[0, 2].Select(r => new RegisterSpec(r, true))),
        (1, Gen.Int[0, 15].Select(r => new RegisterSpec(r, false))),
        (1, Gen.Int[16, 63].Select(r => new RegisterSpec(r, false))),
        (1, Gen.Int[0, 1023].Select(r => new RegisterSpec(r, false))));

    private static readonly Gen<int> Device = Gen.Frequency(
        (12, Gen.Int[1, DeviceCount]),
        (1, Gen.Const(0)),
        (1, Gen.Int[DeviceCount + 1, 31]));

    private static readonly Gen<int> Function = Gen.Frequency((12, Gen.Const(0)), (1, Gen.Int[1, 7]));

    private static readonly Gen<int> Bus = Gen.Frequency((20, Gen.Const(0)), (1, Gen.Int[1, 255]));

    private static readonly Gen<ConfigPath> Path = Gen.OneOf(ConfigPath.Ecam, ConfigPath.Ports);

    // Mostly well-formed (size 4 at 0, size 2 at 0/2, bytes anywhere); sometimes any offset, crossing dwords.
    private static readonly Gen<(int Offset, int Size)> Placement = Gen.Frequency(
        (6, Gen.Const((0, 4))),
        (2, Gen.Int[0, 1].Select(h => (h * 2, 2))),
        (2, Gen.Int[0, 3].Select(b => (b, 1))),
        (1, Gen.Select(Gen.Int[0, 3], Gen.OneOf(1, 2, 4, 3, 8), (o, s) => (o, s))));

    public static readonly Gen<PciOp> ConfigOp =
        Gen.Select(Path, Gen.Frequency((4, Gen.Const(true)), (1, Gen.Const(false))), Bus, Device, Function, Register, Placement, Value,
            (path, write, bus, dev, fn, reg, place, value) => (PciOp)new ConfigAccess(path, write, bus, dev, fn, reg, place.Offset, place.Size, value));

    public static readonly Gen<PciOp> PortOp =
        Gen.Select(Gen.Bool, Gen.Int[0, 7], Gen.OneOf(1, 2, 4), Gen.Frequency((1, Gen.UInt), (1, Gen.OneOf(InterestingValues))),
            (write, port, size, value) => (PciOp)new PortAccess(write, port, size, value));

    public static readonly Gen<PciOp> BusOp =
        Gen.Select(Gen.Bool, Address, Gen.OneOf(1, 2, 4, 8), Gen.ULong,
            (write, address, size, value) => (PciOp)new BusAccess(write, address, size, value));

    /// <summary>Linux's way to move a 64-bit BAR: decoding off, low dword, high dword, decoding back on.</summary>
    private static readonly Gen<PciOp[]> Reprogram =
        Gen.Select(Path, Gen.Int[1, DeviceCount], Gen.Int[4, 8], Address, Gen.OneOf<uint>(0x7, 0x6, 0x3, 0x2),
            (path, dev, low, address, command) => new PciOp[]
            {
                Write(path, dev, new RegisterSpec(1, false), 0, 2, new ValueSpec(0, null)),
                Write(path, dev, new RegisterSpec(low, false), 0, 4, new ValueSpec(0, address)),
                Write(path, dev, new RegisterSpec(low + 1, false), 0, 4, new ValueSpec(0, address)),
                Write(path, dev, new RegisterSpec(1, false), 0, 2, new ValueSpec(command, null)),
            });

    /// <summary>A size probe: all ones, read the mask back, write an address.</summary>
    private static readonly Gen<PciOp[]> Probe =
        Gen.Select(Path, Gen.Int[1, DeviceCount], Gen.OneOf(4, 5, 6, 7, 8, 9, 12), Gen.OneOf(0xFFFF_FFFFu, 0xFFFF_FFF0u, 0xFFFF_F800u), Address,
            (path, dev, reg, probe, address) => new PciOp[]
            {
                Write(path, dev, new RegisterSpec(reg, false), 0, 4, new ValueSpec(probe, null)),
                new ConfigAccess(path, false, 0, dev, 0, new RegisterSpec(reg, false), 0, 4, default),
                Write(path, dev, new RegisterSpec(reg, false), 0, 4, new ValueSpec(0, address)),
            });

    private static readonly Gen<PciOp[]> Chunk = Gen.Frequency(
        (30, ConfigOp.Select(op => new[] { op })),
        (12, BusOp.Select(op => new[] { op })),
        (3, PortOp.Select(op => new[] { op })),
        (9, Reprogram),
        (6, Probe),
        (1, Gen.Int[0, DeviceCount - 1].Select(d => new PciOp[] { new HostFence(d) })));

    /// <summary>A sequence of <paramref name="minChunks"/>..<paramref name="maxChunks"/> chunks (one to four operations each).</summary>
    public static Gen<PciOp[]> Sequence(int minChunks, int maxChunks) =>
        Chunk.Array[minChunks, maxChunks].Select(chunks => chunks.SelectMany(c => c).ToArray());

    private static ConfigAccess Write(ConfigPath path, int dev, RegisterSpec reg, int offset, int size, ValueSpec value) =>
        new(path, true, 0, dev, 0, reg, offset, size, value);

    public static string Print(PciOp[] ops) => $"{ops.Length} operations:\n" + string.Join("\n", ops.Select((op, i) => $"  {i}: {op}"));
}
