using System.Buffers.Binary;

namespace PluginVmm.Sdk.Pci;

/// <summary>
/// Type-0 PCI config space (4 KiB) of one function: identity registers, COMMAND with decode enables, BARs
/// (I/O, 32-bit, 64-bit in two slots, expansion ROM), capability chain, and BAR-move detection.
/// <para>
/// BAR moves are derived, not queued: each BAR keeps the address the guest requested and the address the core
/// committed. <see cref="Write"/> returns a move for every BAR whose requested address differs from the
/// committed one while decoding of its space is enabled (Memory Space Enable for memory and ROM BARs, I/O
/// Space Enable for I/O BARs), and the low dword of a 64-bit BAR is not a move until its high dword is written.
/// So BARs rewritten with decoding off move together when decoding is turned on. Size probes (every address
/// bit of the type written as one) are never moves, and a BAR being sized reports no move until an address is
/// written to the probed dword again: while it reads back its size mask, config space cannot also report a new
/// address. <see cref="RestoreBarAddr"/> puts back the committed
/// address of the BAR named by index — both dwords of a 64-bit BAR, and the ROM BAR too.
/// </para>
/// </summary>
public sealed class PciConfiguration
{
    /// <summary>Dwords in config space (4 KiB: conventional 256 bytes + PCIe extended space).</summary>
    public const int RegisterCount = 1024;

    /// <summary>COMMAND register bits the guest may change: I/O, memory, bus master, parity, SERR, INTx disable.</summary>
    public const ushort CommandWritableBits = 0x0547;

    private const int CommandRegister = 1;
    private const int FirstBarRegister = 4;
    private const int RomRegister = 12;
    private const int CapabilityPointerRegister = 13;
    private const int InterruptRegister = 15;
    private const int CapabilityAreaEnd = 0x100;

    private readonly uint[] _registers = new uint[RegisterCount];
    private readonly uint[] _writable = new uint[RegisterCount];
    private readonly PciBarState?[] _bars = new PciBarState?[PciBarIndex.Rom + 1];
    private readonly List<PciBarSpec> _specs = [];
    private int _lastCapability;
    private int _nextCapabilityOffset = 0x40;

    /// <summary>Creates config space with the given identity. Header type 0, single function.</summary>
    public PciConfiguration(ushort vendorId, ushort deviceId, byte classCode, byte subclass, byte progIf = 0,
        byte revision = 0, ushort subsystemVendorId = 0, ushort subsystemId = 0, byte interruptPin = 0)
    {
        _registers[0] = (uint)deviceId << 16 | vendorId;
        _registers[2] = (uint)classCode << 24 | (uint)subclass << 16 | (uint)progIf << 8 | revision;
        _registers[11] = (uint)subsystemId << 16 | subsystemVendorId;
        _registers[InterruptRegister] = (uint)interruptPin << 8;
        _writable[CommandRegister] = CommandWritableBits;
        _writable[3] = 0x0000_00FF;             // cache line size
        _writable[InterruptRegister] = 0x0000_00FF; // interrupt line
    }

    /// <summary>Vendor ID.</summary>
    public ushort VendorId => (ushort)_registers[0];

    /// <summary>Device ID.</summary>
    public ushort DeviceId => (ushort)(_registers[0] >> 16);

    /// <summary>The COMMAND register.</summary>
    public ushort Command => (ushort)_registers[CommandRegister];

    /// <summary>COMMAND bit 1.</summary>
    public bool MemoryDecodeEnabled => (Command & 0x2) != 0;

    /// <summary>COMMAND bit 0.</summary>
    public bool IoDecodeEnabled => (Command & 0x1) != 0;

    /// <summary>Expansion ROM enable (bit 0 of register 0x30).</summary>
    public bool RomEnabled => (_registers[RomRegister] & 1) != 0;

    /// <summary>The BARs declared with <see cref="AddBar"/>.</summary>
    public IReadOnlyList<PciBarSpec> Bars => _specs;

    /// <summary>Declares a BAR. Throws <see cref="ArgumentException"/> on an invalid spec or a used slot.</summary>
    public void AddBar(PciBarSpec spec)
    {
        if (spec.Validate() is { } error) throw new ArgumentException(error, nameof(spec));
        bool clash = _bars[spec.Index] is not null || SlotUsedAsHighHalf(spec.Index)
            || (spec.Kind == PciBarKind.Memory64 && _bars[spec.Index + 1] is not null);
        if (clash) throw new ArgumentException($"{PciBarIndex.Name(spec.Index)} slot is already used", nameof(spec));
        _bars[spec.Index] = new PciBarState(spec);
        _specs.Add(spec);
    }

    /// <summary>Sets the address the core assigned (initial placement); it becomes the committed address.</summary>
    public void SetBarAddress(int index, ulong address) => Bar(index).ResetTo(address);

    /// <summary>The address the core maps for BAR <paramref name="index"/>.</summary>
    public ulong GetBarAddress(int index) => Bar(index).Committed;

    /// <summary>The address config space currently reports for BAR <paramref name="index"/> (ignoring probes).</summary>
    public ulong GetRequestedBarAddress(int index) => Bar(index).Requested;

    /// <summary>True when the BAR's space is decoded now (ROM: memory decode and ROM enable).</summary>
    public bool IsDecoding(int index) => Bar(index).Spec.Kind switch
    {
        PciBarKind.Io => IoDecodeEnabled,
        PciBarKind.Rom => MemoryDecodeEnabled && RomEnabled,
        _ => MemoryDecodeEnabled,
    };

    // A ROM BAR moves with memory decoding like any memory BAR, whether or not its own enable bit is set, so a
    // bad ROM address is refused when written instead of lingering until the ROM is enabled.
    private bool SpaceEnabled(PciBarKind kind) => kind == PciBarKind.Io ? IoDecodeEnabled : MemoryDecodeEnabled;

    /// <summary>Sets a register's value and which of its bits the guest may write (for device-specific registers).</summary>
    public void SetRegister(int register, uint value, uint writableMask = 0)
    {
        if (register is < 16 and not (3 or InterruptRegister)) throw new ArgumentOutOfRangeException(nameof(register), "header registers are managed by PciConfiguration");
        _registers[register] = value;
        _writable[register] = writableMask;
    }

    /// <summary>Reads a dword; out-of-range registers read as all ones.</summary>
    public uint Read(int register)
    {
        if ((uint)register >= RegisterCount) return 0xFFFF_FFFF;
        if (register is >= FirstBarRegister and < FirstBarRegister + 6) return ReadBarRegister(register - FirstBarRegister);
        if (register == RomRegister)
            return _bars[PciBarIndex.Rom] is { } rom ? rom.ReadLow(_registers[RomRegister] & 1) : 0;
        return _registers[register];
    }

    /// <summary>
    /// Applies a guest write of 1, 2 or 4 bytes at <paramref name="offset"/> within <paramref name="register"/>.
    /// Writes that are malformed (bad size, crossing the dword, out of range) are ignored. Returns the BAR moves
    /// the core must carry out now.
    /// </summary>
    public IReadOnlyList<BarReprogrammingParams> Write(int register, int offset, ReadOnlySpan<byte> data)
    {
        if ((uint)register >= RegisterCount || data.Length is not (1 or 2 or 4) || offset < 0 || offset + data.Length > 4
            || offset % data.Length != 0)
            return [];
        uint current = Read(register);
        uint merged = Merge(current, offset, data);
        bool full = data.Length == 4;
        if (register is >= FirstBarRegister and < FirstBarRegister + 6)
            WriteBarRegister(register - FirstBarRegister, merged, full);
        else if (register == RomRegister)
            WriteRomRegister(merged, full);
        else
            _registers[register] = (_registers[register] & ~_writable[register]) | (merged & _writable[register]);
        return PendingMoves();
    }

    /// <summary>The moves that decoding would carry out now (requested differs from committed).</summary>
    public IReadOnlyList<BarReprogrammingParams> PendingMoves()
    {
        List<BarReprogrammingParams>? moves = null;
        foreach (var bar in _bars)
        {
            // A probed BAR reads its size mask, so the core's read-back after a move would see the mask, not the new
            // address, and fence a healthy device (found by the guest-input fuzzer: low dword written, high dword
            // probed with all ones, decoding turned on). Its move waits until the probe is ended by an address write.
            if (bar is null || bar.LowPending || bar.ProbingLow || bar.ProbingHigh || bar.Requested == bar.Committed
                || !SpaceEnabled(bar.Spec.Kind)) continue;
            (moves ??= []).Add(new BarReprogrammingParams(bar.Spec.Index, bar.Spec.Kind, bar.Committed, bar.Requested, bar.Spec.Size));
        }
        return moves ?? (IReadOnlyList<BarReprogrammingParams>)[];
    }

    /// <summary>The core carried out <paramref name="move"/>: the new address is now the committed one.</summary>
    public void CommitBarMove(BarReprogrammingParams move)
    {
        var bar = Bar(move.Index);
        bar.Committed = move.NewBase & bar.AddressMask;
    }

    /// <summary>
    /// The move failed: BAR <see cref="BarReprogrammingParams.Index"/> reports (and is committed at)
    /// <see cref="BarReprogrammingParams.OldBase"/> again, both halves of a 64-bit BAR included.
    /// </summary>
    public void RestoreBarAddr(BarReprogrammingParams move)
    {
        if (!PciBarIndex.IsValid(move.Index) || _bars[move.Index] is not { } bar) return;
        bar.ResetTo(move.OldBase);
    }

    /// <summary>
    /// Appends a capability (<paramref name="id"/>, then <paramref name="body"/>, which excludes the 2-byte header)
    /// to the chain; returns its config offset. The body is read-only unless <see cref="SetWritableBits"/> says otherwise.
    /// </summary>
    public int AddCapability(byte id, ReadOnlySpan<byte> body)
    {
        int offset = _nextCapabilityOffset;
        int length = 2 + body.Length;
        if (offset + length > CapabilityAreaEnd) throw new InvalidOperationException("capabilities do not fit below config offset 0x100");
        Span<byte> bytes = stackalloc byte[length];
        bytes[0] = id;
        bytes[1] = 0;
        body.CopyTo(bytes[2..]);
        for (int i = 0; i < length; i++) SetByte(offset + i, bytes[i]);
        if (_lastCapability == 0)
        {
            _registers[CapabilityPointerRegister] = (uint)offset;
            _registers[CommandRegister] |= 0x0010_0000; // STATUS: capabilities list
        }
        else
        {
            SetByte(_lastCapability + 1, (byte)offset);
        }
        _lastCapability = offset;
        _nextCapabilityOffset = (offset + length + 3) & ~3;
        return offset;
    }

    /// <summary>Lets the guest write <paramref name="mask"/> bits of the dword at byte <paramref name="byteOffset"/>.</summary>
    public void SetWritableBits(int byteOffset, uint mask) => _writable[byteOffset / 4] |= mask;

    /// <summary>Reads a byte of config space (for devices inspecting their capabilities).</summary>
    public byte ReadByte(int byteOffset) => (byte)(Read(byteOffset / 4) >> (byteOffset % 4 * 8));

    private void SetByte(int byteOffset, byte value)
    {
        int shift = byteOffset % 4 * 8;
        ref uint reg = ref _registers[byteOffset / 4];
        reg = (reg & ~(0xFFu << shift)) | ((uint)value << shift);
    }

    private uint ReadBarRegister(int slot)
    {
        if (_bars[slot] is { } bar) return bar.ReadLow(0);
        if (slot > 0 && _bars[slot - 1] is { Spec.Kind: PciBarKind.Memory64 } low) return low.ReadHigh();
        return 0; // unimplemented BAR: hardwired zero, so a size probe reads 0 (no BAR)
    }

    private void WriteBarRegister(int slot, uint value, bool full)
    {
        if (_bars[slot] is { } bar) bar.WriteLow(value, full);
        else if (slot > 0 && _bars[slot - 1] is { Spec.Kind: PciBarKind.Memory64 } low) low.WriteHigh(value, full);
    }

    private void WriteRomRegister(uint value, bool full)
    {
        if (_bars[PciBarIndex.Rom] is not { } rom) return;
        _registers[RomRegister] = value & 1;
        rom.WriteLow(value & ~1u, full);
    }

    private bool SlotUsedAsHighHalf(int index) =>
        index is > 0 and < PciBarIndex.Rom && _bars[index - 1] is { Spec.Kind: PciBarKind.Memory64 };

    private PciBarState Bar(int index) =>
        PciBarIndex.IsValid(index) && _bars[index] is { } bar
            ? bar
            : throw new ArgumentOutOfRangeException(nameof(index), $"{PciBarIndex.Name(index)} is not declared");

    private static uint Merge(uint current, int offset, ReadOnlySpan<byte> data)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, current);
        data.CopyTo(bytes[offset..]);
        return BinaryPrimitives.ReadUInt32LittleEndian(bytes);
    }
}
