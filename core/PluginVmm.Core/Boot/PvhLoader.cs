using System.Buffers.Binary;
using System.Text;
using PluginVmm.Core.Memory;
using PluginVmm.Sdk.Memory;

namespace PluginVmm.Core.Boot;

/// <summary>Where <see cref="PvhLoader.Load"/> put things and how to enter the kernel (RBX = <see cref="StartInfoAddress"/>).</summary>
public sealed record PvhBootResult(LinuxBootEntry Entry, ulong StartInfoAddress, ulong KernelEnd, ulong InitramfsAddress, ulong InitramfsSize);

/// <summary>
/// PVH direct boot (xen/include/public/arch-x86/hvm/start_info.h): loads the ELF's PT_LOAD segments at their
/// physical addresses, writes hvm_start_info (magic 0x336ec578, version 1) at 0x6000 with the command line, the
/// memory map and an initramfs module, and returns the 32-bit protected-mode entry state (paging off, flat
/// segments, RBX = start info, RFLAGS = 2). Same low-memory layout as cloud-hypervisor.
/// </summary>
public static class PvhLoader
{
    /// <summary>hvm_start_info address.</summary>
    public const ulong StartInfoAddress = 0x6000;

    /// <summary>hvm_modlist_entry array address.</summary>
    public const ulong ModlistAddress = 0x6040;

    /// <summary>hvm_memmap_table_entry array address.</summary>
    public const ulong MemmapAddress = 0x7000;

    /// <summary>Memory-map capacity (up to the 0x8000 boot stack page).</summary>
    public const int MaxMemmapEntries = 0x1000 / 24;

    /// <summary>hvm_start_info.magic.</summary>
    public const uint StartInfoMagic = 0x336E_C578;

    private const int StartInfoSize = 56, ModlistEntrySize = 32, MemmapEntrySize = 24;

    /// <summary>
    /// Loads <paramref name="image"/> (a PVH ELF). <paramref name="memoryMap"/> is the guest's map (see
    /// <see cref="E820Map.Build"/>); <paramref name="acpiRsdp"/> the RSDP of tables already in memory, or 0. Throws <see cref="PvhImageException"/> for a bad image or arguments that do not fit.
    /// </summary>
    public static PvhBootResult Load(IGuestMemory memory, ReadOnlySpan<byte> image, string cmdline,
        ReadOnlySpan<byte> initramfs, IReadOnlyList<E820Entry> memoryMap, ulong acpiRsdp = 0)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(cmdline);
        ArgumentNullException.ThrowIfNull(memoryMap);
        var elf = PvhElfImage.Parse(image);
        if (elf.EntryPoint >= 1UL << 32) throw new PvhImageException($"PVH entry 0x{elf.EntryPoint:x} is above 4 GiB");

        ulong kernelEnd = 0;
        foreach (var s in elf.Segments)
        {
            if (s.PhysicalAddress < MemoryLayout.HighMemoryStart)
                throw new PvhImageException($"PT_LOAD segment at 0x{s.PhysicalAddress:x} lies below 1 MiB, over the boot structures");
            if (!memory.Contains(s.PhysicalAddress, s.MemorySize))
                throw new PvhImageException($"PT_LOAD segment 0x{s.PhysicalAddress:x}+0x{s.MemorySize:x} does not fit guest RAM (0x{memory.TotalBytes:x} bytes)");
            memory.Write(s.PhysicalAddress, image.Slice((int)s.Offset, (int)s.FileSize));
            memory.GetSpan(s.PhysicalAddress + s.FileSize, checked((int)(s.MemorySize - s.FileSize))).Clear();
            kernelEnd = Math.Max(kernelEnd, s.PhysicalAddress + s.MemorySize);
        }

        var cmd = Encoding.UTF8.GetBytes(cmdline + "\0");
        if ((ulong)cmd.Length > BootLayout.CmdlineMaxSize)
            throw new PvhImageException($"command line is {cmd.Length} bytes; at most {BootLayout.CmdlineMaxSize} fit");
        memory.Write(BootLayout.CmdlineAddress, cmd);

        ulong initrdAddress = 0;
        if (!initramfs.IsEmpty)
        {
            initrdAddress = PlaceInitramfs(memory, (ulong)initramfs.Length, kernelEnd);
            memory.Write(initrdAddress, initramfs);
            var mod = new byte[ModlistEntrySize];
            BinaryPrimitives.WriteUInt64LittleEndian(mod.AsSpan(0), initrdAddress);
            BinaryPrimitives.WriteUInt64LittleEndian(mod.AsSpan(8), (ulong)initramfs.Length);
            memory.Write(ModlistAddress, mod);
        }

        if (memoryMap.Count > MaxMemmapEntries) throw new PvhImageException($"memory map has {memoryMap.Count} entries; at most {MaxMemmapEntries} fit");
        var map = new byte[memoryMap.Count * MemmapEntrySize];
        for (int i = 0; i < memoryMap.Count; i++)
        {
            var e = map.AsSpan(i * MemmapEntrySize);
            BinaryPrimitives.WriteUInt64LittleEndian(e, memoryMap[i].Address);
            BinaryPrimitives.WriteUInt64LittleEndian(e[8..], memoryMap[i].Size);
            BinaryPrimitives.WriteUInt32LittleEndian(e[16..], (uint)memoryMap[i].Type);
        }
        memory.Write(MemmapAddress, map);

        var si = new byte[StartInfoSize];
        BinaryPrimitives.WriteUInt32LittleEndian(si.AsSpan(0), StartInfoMagic);
        BinaryPrimitives.WriteUInt32LittleEndian(si.AsSpan(4), 1);                      // version: has memmap fields
        BinaryPrimitives.WriteUInt32LittleEndian(si.AsSpan(12), initramfs.IsEmpty ? 0u : 1u);
        BinaryPrimitives.WriteUInt64LittleEndian(si.AsSpan(16), initramfs.IsEmpty ? 0 : ModlistAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(si.AsSpan(24), BootLayout.CmdlineAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(si.AsSpan(32), acpiRsdp);             // rsdp_paddr, 0 = none
        BinaryPrimitives.WriteUInt64LittleEndian(si.AsSpan(40), MemmapAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(si.AsSpan(48), (uint)memoryMap.Count);
        memory.Write(StartInfoAddress, si);

        BootLayout.WriteGdt(memory);
        var entry = BootLayout.ProtectedModeEntry(elf.EntryPoint);
        return new PvhBootResult(entry, StartInfoAddress, kernelEnd, initrdAddress, (ulong)initramfs.Length);
    }

    // Highest page-aligned spot below the end of low RAM (and below 4 GiB), above the kernel.
    private static ulong PlaceInitramfs(IGuestMemory memory, ulong size, ulong kernelEnd)
    {
        ulong top = Math.Min(memory.TotalBytes, MemoryLayout.Mem32DeviceStart);
        if (size > top || ((top - size) & ~0xFFFUL) < ((kernelEnd + 0xFFF) & ~0xFFFUL))
            throw new PvhImageException($"initramfs of {size} bytes does not fit between the kernel end 0x{kernelEnd:x} and 0x{top:x}");
        ulong address = (top - size) & ~0xFFFUL;
        if (!memory.Contains(address, size)) throw new PvhImageException($"initramfs at 0x{address:x} is outside guest RAM");
        return address;
    }
}
