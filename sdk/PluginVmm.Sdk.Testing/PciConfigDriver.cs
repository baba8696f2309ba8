using System.Buffers.Binary;
using PluginVmm.Sdk.Pci;

namespace PluginVmm.Sdk.Testing;

/// <summary>
/// What firmware or a guest kernel does to a PCI function through config space, against an <see cref="IPciDevice"/>:
/// read/write registers, walk capabilities, size and program BARs (carrying out the moves the device returns the
/// way the core would, without its validation), enable memory decoding and MSI-X.
/// </summary>
public sealed class PciConfigDriver(IPciDevice device)
{
    /// <summary>The function driven.</summary>
    public IPciDevice Device { get; } = device;

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
        foreach (var m in moves) Device.MoveBar(m);
        return moves;
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

    /// <summary>Sizes BAR <paramref name="index"/> like firmware: write all ones, read back, restore. 0 when absent.</summary>
    public ulong ProbeBarSize(int index)
    {
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

    /// <summary>Programs BAR <paramref name="index"/> (both dwords of a 64-bit BAR), carrying out the move.</summary>
    public void ProgramBar(int index, ulong address)
    {
        int reg = 0x10 + index * 4;
        bool is64 = (Read32(reg) & 7) == 4;
        Write32(reg, (uint)address);
        if (is64) Write32(reg + 4, (uint)(address >> 32));
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
