using System.Buffers.Binary;
using PluginVmm.Sdk.Pci;

namespace PluginVmm.Tests.Pci.Fakes;

/// <summary>
/// A third-party style device that implements <see cref="IPciDevice"/> directly (no PciConfiguration): every
/// full-dword BAR write is reported as a move at once, unmasked (so it can report misaligned addresses), and its
/// RestoreBarAddr can be made to do nothing. Records every config write as (register, offset, bytes).
/// </summary>
public sealed class RawPciDevice(params PciBarSpec[] bars) : IPciDevice
{
    private readonly uint[] _regs = CreateRegisters();
    private readonly Dictionary<int, ulong> _bases = [];

    public IReadOnlyList<PciBarSpec> Bars { get; } = bars;

    public bool IgnoreRestore { get; set; }

    public bool IgnoreAssign { get; set; }

    /// <summary>MoveBar puts the register back to the old address (config space no longer follows the core).</summary>
    public bool RevertOnMove { get; set; }

    public bool ThrowOnConfigWrite { get; set; }

    /// <summary>Reports moves with this (wrong) old base instead of its own.</summary>
    public ulong? LieAboutOldBase { get; set; }

    public List<(int Register, int Offset, byte[] Data)> ConfigWrites { get; } = [];

    public List<BarReprogrammingParams> Restores { get; } = [];

    public void AssignBar(int index, ulong address)
    {
        if (IgnoreAssign) return;
        SetBase(index, address);
    }

    public uint ReadConfigRegister(int register) => (uint)register < 1024 ? _regs[register] : 0xFFFF_FFFF;

    public IReadOnlyList<BarReprogrammingParams> WriteConfigRegister(int register, int offset, ReadOnlySpan<byte> data)
    {
        ConfigWrites.Add((register, offset, data.ToArray()));
        if (ThrowOnConfigWrite) throw new InvalidOperationException("device bug");
        if (data.Length != 4 || offset != 0)
        {
            if (register == 1 && offset == 0 && data.Length >= 2) _regs[1] = BinaryPrimitives.ReadUInt16LittleEndian(data);
            return [];
        }
        uint value = BinaryPrimitives.ReadUInt32LittleEndian(data);
        if (register == 1) { _regs[1] = value & 0xFFFF; return []; }
        var spec = Bars.FirstOrDefault(b => RegisterOf(b) == register || (b.Kind == PciBarKind.Memory64 && RegisterOf(b) + 1 == register));
        if (spec is null) { _regs[register] = value; return []; }
        ulong old = _bases[spec.Index];
        ulong requested;
        if (spec.Kind == PciBarKind.Memory64)
        {
            if (register == RegisterOf(spec)) { _regs[register] = value; return []; } // wait for the high dword
            requested = (ulong)value << 32 | (_regs[RegisterOf(spec)] & 0xFFFF_FFF0u);
        }
        else
        {
            requested = value & (spec.Kind == PciBarKind.Io ? 0xFFFF_FFFCu : 0xFFFF_FFF0u);
        }
        SetBase(spec.Index, requested);
        if (requested == old) return [];
        return [new BarReprogrammingParams(spec.Index, spec.Kind, LieAboutOldBase ?? old, requested, spec.Size)];
    }

    public void ReadBar(int index, ulong offset, Span<byte> data) => data.Fill(0xAB);

    public void WriteBar(int index, ulong offset, ReadOnlySpan<byte> data)
    {
    }

    public void MoveBar(BarReprogrammingParams move)
    {
        if (RevertOnMove) SetBase(move.Index, move.OldBase);
    }

    public void RestoreBarAddr(BarReprogrammingParams move)
    {
        Restores.Add(move);
        if (!IgnoreRestore) SetBase(move.Index, move.OldBase);
    }

    private void SetBase(int index, ulong address)
    {
        var spec = Bars.First(b => b.Index == index);
        _bases[index] = address;
        int reg = RegisterOf(spec);
        uint type = spec.Kind switch { PciBarKind.Io => 1u, PciBarKind.Memory64 => 4u, _ => 0u };
        _regs[reg] = (uint)address | type;
        if (spec.Kind == PciBarKind.Memory64) _regs[reg + 1] = (uint)(address >> 32);
    }

    private static int RegisterOf(PciBarSpec spec) => spec.Index == PciBarIndex.Rom ? 12 : 4 + spec.Index;

    private static uint[] CreateRegisters()
    {
        var regs = new uint[1024];
        regs[0] = 0xBEEF_1234;
        regs[2] = 0xFF00_0000;
        return regs;
    }
}
