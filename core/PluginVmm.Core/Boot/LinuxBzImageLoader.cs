using System.Buffers.Binary;
using System.Text;
using PluginVmm.Sdk.Memory;

namespace PluginVmm.Core.Boot;

/// <summary>Where <see cref="LinuxBzImageLoader.Load"/> put things, and how to enter the kernel.</summary>
public sealed record LinuxBootResult(
    LinuxBootEntry Entry,
    LinuxSetupHeader Header,
    ulong KernelAddress,
    ulong KernelSize,
    ulong InitramfsAddress,
    ulong InitramfsSize);

/// <summary>
/// Loads a bzImage with the Linux x86 32-bit boot protocol (boot.rst): protected-mode kernel at 1 MiB, zero page
/// with the image's setup header, command line, initramfs placed high, the caller's e820 map and the ACPI RSDP
/// address; returns the 32-bit protected-mode entry state.
/// </summary>
/// <remarks>
/// Why the 32-bit entry and not the 64-bit one at load address + 0x200: the 32-bit entry needs no page tables
/// (the 64-bit one requires identity mapping of kernel, zero page, cmdline and initramfs, which we would have to
/// build and keep out of the kernel's way), it is the same CPU mode the PVH entry uses so the Vm code has one
/// register setup path, and every bzImage has it whereas the 64-bit entry needs XLF_KERNEL_64. The kernel's
/// startup_32 switches to long mode itself within a few hundred instructions.
/// </remarks>
public static class LinuxBzImageLoader
{
    // boot_params fields outside the setup header (Documentation/arch/x86/zero-page.rst).
    private const int AcpiRsdpAddrOffset = 0x070;
    private const int ExtRamdiskImageOffset = 0x0C0;
    private const int ExtRamdiskSizeOffset = 0x0C4;
    private const int ExtCmdLinePtrOffset = 0x0C8;
    private const int E820EntriesOffset = 0x1E8;
    private const int E820TableOffset = 0x2D0;
    private const int E820EntrySize = 20;
    private const int ZeroPageSize = 0x1000;

    /// <summary>type_of_loader 0xFF: "undefined" boot loader (we have no assigned id).</summary>
    private const byte LoaderTypeUndefined = 0xFF;

    /// <summary>Protocol 2.14 added boot_params.acpi_rsdp_addr.</summary>
    private const ushort AcpiRsdpAddrVersion = 0x020E;

    private const ulong FourGiB = 0x1_0000_0000;

    /// <summary>
    /// Loads <paramref name="image"/> into <paramref name="memory"/>. <paramref name="e820"/> is the guest's
    /// memory map as (address, size, type) with types from <see cref="LinuxBootLayout"/> (E820Ram, ...); it must
    /// report [0, 0xA0000) and the kernel's area from 1 MiB as RAM and the ECAM window as reserved.
    /// <paramref name="acpiRsdpAddress"/> is 0 when there are no ACPI tables. Throws
    /// <see cref="LinuxImageException"/> for an unbootable image or arguments that do not fit, and
    /// <see cref="GuestMemoryException"/> only if a range checked as RAM is refused on write.
    /// </summary>
    public static LinuxBootResult Load(
        IGuestMemory memory,
        ReadOnlySpan<byte> image,
        string cmdline,
        ReadOnlySpan<byte> initramfs,
        IReadOnlyList<(ulong Address, ulong Size, uint Type)> e820,
        ulong acpiRsdpAddress)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(cmdline);
        ArgumentNullException.ThrowIfNull(e820);

        var header = LinuxSetupHeader.Parse(image);
        var kernel = image[header.KernelOffset..];
        var kernelSize = (ulong)kernel.Length;

        var cmdlineBytes = EncodeCmdline(cmdline, header);
        if (e820.Count > LinuxBootLayout.E820MaxEntries)
            throw new LinuxImageException($"e820 map has {e820.Count} entries; the zero page holds at most {LinuxBootLayout.E820MaxEntries}");

        RequireRam(memory, LinuxBootLayout.KernelAddress, kernelSize, "the protected-mode kernel");
        var runtimeEnd = RuntimeEnd(header, kernelSize);
        RequireRam(memory, LinuxBootLayout.KernelAddress, runtimeEnd - LinuxBootLayout.KernelAddress,
            $"the decompressed kernel (init_size 0x{header.InitSize:x} from 0x{runtimeEnd - header.InitSize:x})");
        RequireRam(memory, LinuxBootLayout.ZeroPageAddress, ZeroPageSize, "the zero page");
        RequireRam(memory, LinuxBootLayout.CmdlineAddress, (ulong)cmdlineBytes.Length, "the command line");
        RequireRam(memory, LinuxBootLayout.GdtAddress, (ulong)Gdt.Length * 8, "the boot GDT");

        ulong initrdAddress = 0;
        if (!initramfs.IsEmpty)
        {
            initrdAddress = PlaceInitramfs(memory, header, (ulong)initramfs.Length, runtimeEnd, e820);
        }

        // Everything is validated: now write.
        memory.Write(LinuxBootLayout.KernelAddress, kernel);
        if (!initramfs.IsEmpty) memory.Write(initrdAddress, initramfs);
        memory.Write(LinuxBootLayout.CmdlineAddress, cmdlineBytes);
        WriteGdt(memory);

        var zeroPage = BuildZeroPage(image, header, (ulong)initramfs.Length, initrdAddress, e820, acpiRsdpAddress);
        memory.Write(LinuxBootLayout.ZeroPageAddress, zeroPage);

        return new LinuxBootResult(EntryState(), header, LinuxBootLayout.KernelAddress, kernelSize,
            initrdAddress, (ulong)initramfs.Length);
    }

    /// <summary>The command line as NUL-terminated ASCII bytes, checked against the kernel's cmdline_size.</summary>
    private static byte[] EncodeCmdline(string cmdline, LinuxSetupHeader header)
    {
        if (cmdline.Contains('\0'))
            throw new LinuxImageException("kernel command line contains a NUL character");
        var bytes = Encoding.UTF8.GetBytes(cmdline + "\0");
        var length = (ulong)bytes.Length - 1;
        if (length > header.CmdlineSize)
            throw new LinuxImageException($"kernel command line is {length} bytes; this kernel accepts at most {header.CmdlineSize}");
        if (LinuxBootLayout.CmdlineAddress + (ulong)bytes.Length > LinuxBootLayout.CmdlineLimit)
            throw new LinuxImageException($"kernel command line is {length} bytes; at most {LinuxBootLayout.CmdlineLimit - LinuxBootLayout.CmdlineAddress - 1} fit below 0x{LinuxBootLayout.CmdlineLimit:x}");
        return bytes;
    }

    /// <summary>
    /// First byte past what the kernel occupies once running: the loaded image, and the init_size bytes the
    /// decompressor uses from its run address. A relocatable kernel's startup_32 runs at the load address rounded
    /// up to kernel_alignment but never below pref_address (LOAD_PHYSICAL_ADDR); a fixed one at pref_address.
    /// </summary>
    private static ulong RuntimeEnd(LinuxSetupHeader header, ulong kernelSize)
    {
        var start = header.PrefAddress;
        if (header.Relocatable && header.KernelAlignment != 0 && (header.KernelAlignment & (header.KernelAlignment - 1)) == 0)
        {
            var aligned = AlignUp(LinuxBootLayout.KernelAddress, header.KernelAlignment);
            start = Math.Max(aligned, header.PrefAddress);
        }
        if (start >= FourGiB) throw new LinuxImageException($"kernel wants to run at 0x{start:x}, above 4 GiB");
        return Math.Max(LinuxBootLayout.KernelAddress + kernelSize, start + header.InitSize);
    }

    /// <summary>
    /// Highest page-aligned address where the initramfs fits inside one e820 RAM entry, below
    /// min(initrd_addr_max + 1, 4 GiB) and above the kernel's runtime footprint.
    /// </summary>
    private static ulong PlaceInitramfs(IGuestMemory memory, LinuxSetupHeader header, ulong size, ulong kernelEnd,
        IReadOnlyList<(ulong Address, ulong Size, uint Type)> e820)
    {
        var limit = Math.Min((ulong)header.InitrdAddrMax + 1, FourGiB);
        ulong best = 0;
        foreach (var (address, length, type) in e820)
        {
            if (type != LinuxBootLayout.E820Ram || length == 0 || address >= limit) continue;
            var end = length > limit - address ? limit : address + length; // clipped, no overflow
            if (end - address < size) continue;
            var candidate = AlignDown(end - size, LinuxBootLayout.InitramfsAlignment);
            if (candidate < address || candidate < kernelEnd) continue;
            if (!memory.Contains(candidate, size)) continue;
            best = Math.Max(best, candidate);
        }
        if (best == 0)
            throw new LinuxImageException($"initramfs of {size} bytes does not fit in guest RAM between the kernel (ends 0x{kernelEnd:x}) and 0x{limit:x} (min of initrd_addr_max + 1 and 4 GiB)");
        return best;
    }

    private static byte[] BuildZeroPage(ReadOnlySpan<byte> image, LinuxSetupHeader header, ulong initrdSize,
        ulong initrdAddress, IReadOnlyList<(ulong Address, ulong Size, uint Type)> e820, ulong acpiRsdpAddress)
    {
        var zp = new byte[ZeroPageSize];
        // boot.rst: copy the setup header from the image into boot_params at the same offset, then fill in the
        // fields a boot loader writes.
        image.Slice(LinuxSetupHeader.SetupSectsOffset, header.HeaderLength).CopyTo(zp.AsSpan(LinuxSetupHeader.SetupSectsOffset));

        zp[LinuxSetupHeader.TypeOfLoaderOffset] = LoaderTypeUndefined;
        // Only real-mode setup code uses the heap, and we skip it: do not claim heap_end_ptr is valid.
        // QUIET_FLAG and KEEP_SEGMENTS are requests we do not make.
        zp[LinuxSetupHeader.LoadFlagsOffset] = (byte)((header.LoadFlags | LinuxSetupHeader.LoadedHigh) & 0x1F);
        W16(zp, LinuxSetupHeader.HeapEndPtrOffset, 0);
        W32(zp, LinuxSetupHeader.Code32StartOffset, (uint)LinuxBootLayout.KernelAddress);
        W32(zp, LinuxSetupHeader.CmdLinePtrOffset, (uint)LinuxBootLayout.CmdlineAddress);
        W32(zp, ExtCmdLinePtrOffset, 0);
        W32(zp, LinuxSetupHeader.RamdiskImageOffset, (uint)initrdAddress);
        W32(zp, LinuxSetupHeader.RamdiskSizeOffset, (uint)initrdSize);
        W32(zp, ExtRamdiskImageOffset, (uint)(initrdAddress >> 32));
        W32(zp, ExtRamdiskSizeOffset, (uint)(initrdSize >> 32));
        if (acpiRsdpAddress != 0 && header.Version >= AcpiRsdpAddrVersion)
            BinaryPrimitives.WriteUInt64LittleEndian(zp.AsSpan(AcpiRsdpAddrOffset), acpiRsdpAddress);

        zp[E820EntriesOffset] = (byte)e820.Count;
        for (var i = 0; i < e820.Count; i++)
        {
            var entry = zp.AsSpan(E820TableOffset + i * E820EntrySize, E820EntrySize);
            BinaryPrimitives.WriteUInt64LittleEndian(entry, e820[i].Address);
            BinaryPrimitives.WriteUInt64LittleEndian(entry[8..], e820[i].Size);
            BinaryPrimitives.WriteUInt32LittleEndian(entry[16..], e820[i].Type);
        }
        return zp;
    }

    // GDT descriptors: flat 4 GiB code (0x10) and data (0x18) as boot.rst requires, and a TSS (0x20) for TR.
    private static readonly ulong[] Gdt =
    [
        0,
        0,
        0x00CF_9B00_0000_FFFF, // 0x10: base 0, limit 0xFFFFF pages, G D P S, type 0xB execute/read accessed
        0x00CF_9300_0000_FFFF, // 0x18: base 0, limit 0xFFFFF pages, G D P S, type 0x3 read/write accessed
        0x0000_8B00_0000_0067, // 0x20: base 0, limit 0x67 bytes, P, system type 0xB busy 32-bit TSS
    ];

    private static void WriteGdt(IGuestMemory memory)
    {
        var bytes = new byte[Gdt.Length * 8];
        for (var i = 0; i < Gdt.Length; i++) BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(i * 8), Gdt[i]);
        memory.Write(LinuxBootLayout.GdtAddress, bytes);
    }

    private static LinuxBootEntry EntryState() => new()
    {
        Rip = LinuxBootLayout.KernelAddress,
        Rsi = LinuxBootLayout.ZeroPageAddress,
        Rsp = LinuxBootLayout.StackPointer,
        GdtBase = LinuxBootLayout.GdtAddress,
        GdtLimit = (ushort)(Gdt.Length * 8 - 1),
        Code = new LinuxSegment(0x10, 0, 0xFFFF_FFFF, 0xB, Present: true, Dpl: 0, Db: true, S: true, L: false, G: true),
        Data = new LinuxSegment(0x18, 0, 0xFFFF_FFFF, 0x3, Present: true, Dpl: 0, Db: true, S: true, L: false, G: true),
        Tss = new LinuxSegment(0x20, 0, 0x67, 0xB, Present: true, Dpl: 0, Db: false, S: false, L: false, G: false),
    };

    private static void RequireRam(IGuestMemory memory, ulong address, ulong length, string what)
    {
        if (length == 0) return;
        if (!memory.Contains(address, length))
            throw new LinuxImageException($"guest RAM does not hold {what}: 0x{length:x} bytes at 0x{address:x} (guest RAM 0x{memory.TotalBytes:x} bytes)");
    }

    private static ulong AlignUp(ulong value, ulong alignment) => (value + alignment - 1) & ~(alignment - 1);
    private static ulong AlignDown(ulong value, ulong alignment) => value & ~(alignment - 1);
    private static void W16(byte[] b, int o, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(o), v);
    private static void W32(byte[] b, int o, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(o), v);
}
