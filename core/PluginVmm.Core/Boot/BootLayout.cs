using System.Buffers.Binary;
using PluginVmm.Sdk.Memory;

namespace PluginVmm.Core.Boot;

/// <summary>Low-memory boot structures shared by the PVH loader (cloud-hypervisor's addresses) and the 32-bit entry state.</summary>
public static class BootLayout
{
    /// <summary>Boot GDT.</summary>
    public const ulong GdtAddress = 0x500;

    /// <summary>Kernel command line.</summary>
    public const ulong CmdlineAddress = 0x2_0000;

    /// <summary>Command line capacity (64 KiB).</summary>
    public const ulong CmdlineMaxSize = 0x1_0000;

    // Flat 4 GiB code (0x10) and data (0x18), and a busy 32-bit TSS (0x20) for TR.
    private static readonly ulong[] Gdt = [0, 0, 0x00CF_9B00_0000_FFFF, 0x00CF_9300_0000_FFFF, 0x0000_8B00_0000_0067];

    /// <summary>Writes the boot GDT at <see cref="GdtAddress"/>.</summary>
    public static void WriteGdt(IGuestMemory memory)
    {
        var bytes = new byte[Gdt.Length * 8];
        for (int i = 0; i < Gdt.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(i * 8), Gdt[i]);
        memory.Write(GdtAddress, bytes);
    }

    /// <summary>32-bit protected mode, paging off, flat segments, interrupts off, entering at <paramref name="rip"/>.</summary>
    public static LinuxBootEntry ProtectedModeEntry(ulong rip) => new()
    {
        Rip = rip,
        Rsi = 0,
        Rsp = 0,
        GdtBase = GdtAddress,
        GdtLimit = (ushort)(Gdt.Length * 8 - 1),
        Code = new LinuxSegment(0x10, 0, 0xFFFF_FFFF, 0xB, Present: true, Dpl: 0, Db: true, S: true, L: false, G: true),
        Data = new LinuxSegment(0x18, 0, 0xFFFF_FFFF, 0x3, Present: true, Dpl: 0, Db: true, S: true, L: false, G: true),
        Tss = new LinuxSegment(0x20, 0, 0x67, 0xB, Present: true, Dpl: 0, Db: false, S: false, L: false, G: false),
    };
}
