using System.Buffers.Binary;
using PluginVmm.Sdk.Pci;

namespace PluginVmm.Sdk.Testing;

/// <summary>
/// What firmware or a guest kernel does to a PCI function through config space, against an <see cref="IPciDevice"/>:
/// read/write registers, walk capabilities, size, place and program BARs, enable decoding and MSI-X.
/// <para>
/// BAR moves the device reports are carried out the way the core does: <see cref="AcceptMove"/> decides (by default
/// every move is accepted; <see cref="RefuseLikeTheCore"/> applies the core's window, alignment and overlap rules),
/// an accepted move is committed with <see cref="IPciDevice.MoveBar"/>, and a refused one — or one whose MoveBar
/// throws — is rolled back with <see cref="IPciDevice.RestoreBarAddr"/> and recorded in <see cref="Refused"/>.
/// </para>
/// </summary>
public sealed class PciConfigDriver(IPciDevice device)
{
    /// <summary>Where <see cref="AssignBars"/> starts I/O BARs.</summary>
    public const ulong IoBase = 0xC000;

    /// <summary>Where <see cref="AssignBars"/> starts 32-bit memory and ROM BARs (the 32-bit MMIO hole).</summary>
    public const ulong Mmio32Base = 0xC000_0000;

    /// <summary>End (exclusive) of the 32-bit MMIO hole in <see cref="RefuseLikeTheCore"/> (the IOAPIC follows).</summary>
    public const ulong Mmio32End = 0xFEC0_0000;

    /// <summary>Where <see cref="AssignBars"/> starts 64-bit BARs.</summary>
    public const ulong Mmio64Base = 0x40_0000_0000;

    /// <summary>End (exclusive) of the 64-bit area in <see cref="RefuseLikeTheCore"/> (a 46-bit guest).</summary>
    public const ulong Mmio64End = 1UL << 46;

    /// <summary>The function driven.</summary>
    public IPciDevice Device { get; } = device;

    /// <summary>Decides whether a reported move is carried out (true) or refused and rolled back (false).</summary>
    public Func<BarReprogrammingParams, bool> AcceptMove { get; set; } = _ => true;

    /// <summary>Every move the device reported through <see cref="Write"/>, carried out or refused, in order.</summary>
    public List<BarReprogrammingParams> Moves { get; } = [];

    /// <summary>Moves that were refused (or whose MoveBar threw) and rolled back with RestoreBarAddr, in order.</summary>
    public List<BarReprogrammingParams> Refused { get; } = [];

    /// <summary>
    /// Refuses moves the core refuses: not naturally aligned, outside the window of the BAR's kind (I/O below 64 KiB
    /// above 0x1000; 32-bit and ROM in [<see cref="Mmio32Base"/>, <see cref="Mmio32End"/>); 64-bit there or in
    /// [4 GiB, <see cref="Mmio64End"/>)), or overlapping another BAR of this device.
    /// </summary>
    public void RefuseLikeTheCore() => AcceptMove = move => WhyRefused(move) is null;

    /// <summary>Why the core would refuse <paramref name="move"/>, or null when it would carry it out.</summary>
    public string? WhyRefused(BarReprogrammingParams move)
    {
        ulong start = move.NewBase, length = move.Length;
        if (length == 0 || start % length != 0) return "not naturally aligned";
        bool In(ulong from, ulong to) => start >= from && start < to && length <= to - start;
        bool inWindow = move.Kind switch
        {
            PciBarKind.Io => In(0x1000, 0x1_0000),
            PciBarKind.Memory64 => In(Mmio32Base, Mmio32End) || In(0x1_0000_0000, Mmio64End),
            _ => In(Mmio32Base, Mmio32End),
        };
        if (!inWindow) return "outside the window for its kind";
        foreach (var other in Device.Bars)
        {
            if (other.Index == move.Index || (other.Kind == PciBarKind.Io) != (move.Kind == PciBarKind.Io)) continue;
            ulong otherStart = BarAddress(other.Index);
            if (start < otherStart + other.Size && otherStart < start + length) return $"overlaps {PciBarIndex.Name(other.Index)}";
        }
        return null;
    }

    /// <summary>
    /// Places every BAR the way the core does before the guest runs — largest first, naturally aligned, I/O from
    /// <see cref="IoBase"/>, 32-bit and ROM from <see cref="Mmio32Base"/>, 64-bit from <see cref="Mmio64Base"/> —
    /// and calls <see cref="IPciDevice.AssignBar"/>. Returns the addresses by BAR index.
    /// </summary>
    public IReadOnlyDictionary<int, ulong> AssignBars()
    {
        var next = new Dictionary<PciBarKind, ulong>
        {
            [PciBarKind.Io] = IoBase, [PciBarKind.Memory32] = Mmio32Base, [PciBarKind.Rom] = Mmio32Base, [PciBarKind.Memory64] = Mmio64Base,
        };
        var placed = new Dictionary<int, ulong>();
        foreach (var spec in Device.Bars.OrderByDescending(s => s.Size).ThenBy(s => s.Index))
        {
            var window = spec.Kind == PciBarKind.Rom ? PciBarKind.Memory32 : spec.Kind;
            ulong address = (next[window] + spec.Size - 1) & ~(spec.Size - 1);
            next[window] = address + spec.Size;
            if (window == PciBarKind.Memory32) next[PciBarKind.Rom] = next[window];
            Device.AssignBar(spec.Index, address);
            placed[spec.Index] = address;
        }
        return placed;
    }

    /// <summary>Turns on I/O and/or memory decoding in COMMAND for the kinds of BAR the device has, as firmware does.</summary>
    public void EnableDecoding()
    {
        ushort bits = 0;
        foreach (var spec in Device.Bars) bits |= spec.Kind == PciBarKind.Io ? (ushort)1 : (ushort)2;
        Write16(4, (ushort)(Read16(4) | bits));
    }

    /// <summary>Turns off I/O and memory decoding (COMMAND bits 0 and 1), as Linux does around BAR sizing.</summary>
    public void DisableDecoding() => Write16(4, (ushort)(Read16(4) & ~3));

    /// <summary>The address config space reports for BAR <paramref name="index"/>: both dwords of a 64-bit BAR, the ROM without its enable bit.</summary>
    public ulong BarAddress(int index)
    {
        if (index == PciBarIndex.Rom) return Read32(0x30) & 0xFFFF_F800u;
        int reg = 0x10 + index * 4;
        uint low = Read32(reg);
        if ((low & 1) != 0) return low & ~3u;
        ulong address = low & ~0xFu;
        if ((low & 6) == 4 && index < 5) address |= (ulong)Read32(reg + 4) << 32;
        return address;
    }

    /// <summary>Reads a config dword at byte offset <paramref name="offset"/> (rounded down to the dword).</summary>
    public uint Read32(int offset) => Device.ReadConfigRegister(offset / 4);

    /// <summary>Reads a config word.</summary>
    public ushort Read16(int offset) => (ushort)(Read32(offset) >> (offset % 4 * 8));

    /// <summary>Reads a config byte.</summary>
    public byte Read8(int offset) => (byte)(Read32(offset) >> (offset % 4 * 8));

    /// <summary>Writes 1, 2 or 4 bytes at <paramref name="offset"/>; carries out any BAR moves. Returns them.</summary>
    public IReadOnlyList<BarReprogrammingParams> Write(int offset, uint value, int size)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        var moves = Device.WriteConfigRegister(offset / 4, offset % 4, b[..size]);
        foreach (var m in moves) CarryOut(m);
        return moves;
    }

    private void CarryOut(BarReprogrammingParams move)
    {
        Moves.Add(move);
        if (AcceptMove(move))
        {
            try
            {
                Device.MoveBar(move);
                return;
            }
            catch (Exception)
            {
                // The core undoes a move whose MoveBar throws; so does the driver.
            }
        }
        Refused.Add(move);
        Device.RestoreBarAddr(move);
    }

    /// <summary>Writes a config dword.</summary>
    public void Write32(int offset, uint value) => Write(offset, value, 4);

    /// <summary>Writes a config word.</summary>
    public void Write16(int offset, ushort value) => Write(offset, value, 2);

    /// <summary>(offset, id) of every capability in the chain (stops on a loop or after 48).</summary>
    public List<(int Offset, byte Id)> Capabilities()
    {
        var caps = new List<(int, byte)>();
        if ((Read16(6) & 0x10) == 0) return caps;
        int next = Read8(0x34) & ~3;
        while (next >= 0x40 && caps.Count < 48)
        {
            caps.Add((next, Read8(next)));
            next = Read8(next + 1) & ~3;
        }
        return caps;
    }

    /// <summary>
    /// Sizes BAR <paramref name="index"/> like firmware: write all ones (the ROM: 0xFFFFF800, its enable bit kept),
    /// read back, restore. 0 when absent.
    /// </summary>
    public ulong ProbeBarSize(int index)
    {
        if (index == PciBarIndex.Rom)
        {
            uint original = Read32(0x30);
            Write32(0x30, 0xFFFF_F800u | (original & 1));
            uint romMask = Read32(0x30) & 0xFFFF_F800u;
            Write32(0x30, original);
            return romMask == 0 ? 0 : (ulong)(~romMask + 1);
        }
        int reg = 0x10 + index * 4;
        uint low = Read32(reg);
        bool is64 = (low & 1) == 0 && (low & 6) == 4;
        uint high = is64 ? Read32(reg + 4) : 0;
        Write32(reg, 0xFFFF_FFFF);
        if (is64) Write32(reg + 4, 0xFFFF_FFFF);
        ulong mask = Read32(reg) & ((low & 1) != 0 ? ~3u : ~0xFu);
        if (is64) mask |= (ulong)Read32(reg + 4) << 32;
        else mask |= 0xFFFF_FFFF_0000_0000;
        Write32(reg, low);
        if (is64) Write32(reg + 4, high);
        return mask == 0xFFFF_FFFF_0000_0000 || mask == 0 ? 0 : ~mask + 1;
    }

    /// <summary>
    /// Programs BAR <paramref name="index"/> (both dwords of a 64-bit BAR, low first; the ROM keeping its enable bit),
    /// carrying out the moves. Returns the moves reported.
    /// </summary>
    public IReadOnlyList<BarReprogrammingParams> ProgramBar(int index, ulong address)
    {
        if (index == PciBarIndex.Rom) return Write(0x30, (uint)address | (Read32(0x30) & 1), 4);
        int reg = 0x10 + index * 4;
        bool is64 = (Read32(reg) & 7) == 4;
        var moves = Write(reg, (uint)address, 4);
        return is64 ? [.. moves, .. Write(reg + 4, (uint)(address >> 32), 4)] : moves;
    }

    /// <summary>Turns on memory decoding and bus mastering (COMMAND bits 1 and 2).</summary>
    public void EnableMemoryAndBusMaster() => Write16(4, (ushort)(Read16(4) | 0x6));

    /// <summary>Offset of the first capability with <paramref name="id"/>, or -1.</summary>
    public int FindCapability(byte id)
    {
        foreach (var (offset, capId) in Capabilities())
            if (capId == id) return offset;
        return -1;
    }

    /// <summary>Sets MSI-X Message Control Enable and Function Mask as given.</summary>
    public void SetMsix(bool enable, bool functionMask = false)
    {
        int cap = FindCapability(PciCapabilities.MsixId);
        if (cap < 0) throw new InvalidOperationException("no MSI-X capability");
        ushort control = (ushort)(Read16(cap + 2) & ~0xC000);
        if (enable) control |= 0x8000;
        if (functionMask) control |= 0x4000;
        Write16(cap + 2, control);
    }

    /// <summary>Reads <paramref name="size"/> bytes of BAR <paramref name="bar"/> at <paramref name="offset"/> through the device.</summary>
    public ulong BarRead(int bar, ulong offset, int size)
    {
        Span<byte> b = stackalloc byte[8];
        Device.ReadBar(bar, offset, b[..size]);
        return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    /// <summary>Writes <paramref name="size"/> bytes of <paramref name="value"/> to BAR <paramref name="bar"/> at <paramref name="offset"/>.</summary>
    public void BarWrite(int bar, ulong offset, ulong value, int size)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        Device.WriteBar(bar, offset, b[..size]);
    }
}
