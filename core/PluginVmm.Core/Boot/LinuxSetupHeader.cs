using System.Buffers.Binary;

namespace PluginVmm.Core.Boot;

/// <summary>
/// The fields of a bzImage's setup header (Linux Documentation/arch/x86/boot.rst, struct setup_header in
/// arch/x86/include/uapi/asm/bootparam.h) that a 32-bit boot loader reads. Offsets are from the start of the image
/// file, which are also the offsets inside the zero page (boot_params.hdr sits at 0x1F1 in both).
/// </summary>
public sealed record LinuxSetupHeader
{
    // Offsets of setup_header fields, counted from the start of the image / of boot_params.
    internal const int SetupSectsOffset = 0x1F1;
    internal const int SyssizeOffset = 0x1F4;
    internal const int VidModeOffset = 0x1FA;
    internal const int BootFlagOffset = 0x1FE;
    internal const int JumpOffset = 0x200;
    internal const int HeaderMagicOffset = 0x202;
    internal const int VersionOffset = 0x206;
    internal const int TypeOfLoaderOffset = 0x210;
    internal const int LoadFlagsOffset = 0x211;
    internal const int Code32StartOffset = 0x214;
    internal const int RamdiskImageOffset = 0x218;
    internal const int RamdiskSizeOffset = 0x21C;
    internal const int HeapEndPtrOffset = 0x224;
    internal const int CmdLinePtrOffset = 0x228;
    internal const int InitrdAddrMaxOffset = 0x22C;
    internal const int KernelAlignmentOffset = 0x230;
    internal const int RelocatableOffset = 0x234;
    internal const int MinAlignmentOffset = 0x235;
    internal const int XLoadFlagsOffset = 0x236;
    internal const int CmdlineSizeOffset = 0x238;
    internal const int PrefAddressOffset = 0x258;
    internal const int InitSizeOffset = 0x260;

    /// <summary>boot_params.hdr ends before edd_mbr_sig_buffer at 0x290; a longer claimed header is clamped.</summary>
    internal const int HeaderLimit = 0x290;

    /// <summary>0xAA55 at 0x1FE: the old boot-sector signature every bzImage still carries.</summary>
    public const ushort BootFlagValue = 0xAA55;

    /// <summary>"HdrS" read as a little-endian u32.</summary>
    public const uint HeaderMagicValue = 0x5372_6448;

    /// <summary>Oldest protocol accepted: 2.06 added cmdline_size; 2.05 relocatable; 2.03 initrd_addr_max.</summary>
    public const ushort MinimumVersion = 0x0206;

    /// <summary>loadflags bit 0: the protected-mode code is loaded at 0x100000 (a bzImage, not a zImage).</summary>
    public const byte LoadedHigh = 0x01;

    /// <summary>loadflags bit 7: heap_end_ptr is valid (only the real-mode setup code uses the heap).</summary>
    public const byte CanUseHeap = 0x80;

    /// <summary>xloadflags bit 0: a 64-bit entry point exists at load address + 0x200.</summary>
    public const ushort XlfKernel64 = 0x0001;

    /// <summary>xloadflags bit 1: kernel, boot_params, cmdline and ramdisk may lie above 4 GiB.</summary>
    public const ushort XlfCanBeLoadedAbove4G = 0x0002;

    /// <summary>Setup sectors (512 bytes each) after the boot sector; 0 means 4.</summary>
    public required byte SetupSects { get; init; }

    /// <summary>Protected-mode code size in 16-byte paragraphs.</summary>
    public required uint Syssize { get; init; }

    /// <summary>Should be <see cref="BootFlagValue"/>.</summary>
    public required ushort BootFlag { get; init; }

    /// <summary>Boot protocol version, major in the high byte (0x020F = 2.15).</summary>
    public required ushort Version { get; init; }

    /// <summary>loadflags (<see cref="LoadedHigh"/>, <see cref="CanUseHeap"/>, ...).</summary>
    public required byte LoadFlags { get; init; }

    /// <summary>The 32-bit entry address the image was linked for (0x100000).</summary>
    public required uint Code32Start { get; init; }

    /// <summary>Highest address the initramfs may occupy (its last byte).</summary>
    public required uint InitrdAddrMax { get; init; }

    /// <summary>Physical alignment the kernel wants when relocatable.</summary>
    public required uint KernelAlignment { get; init; }

    /// <summary>True when the kernel can run from an address other than <see cref="PrefAddress"/>.</summary>
    public required bool Relocatable { get; init; }

    /// <summary>Minimum alignment as a power of two (protocol ≥ 2.10).</summary>
    public required byte MinAlignment { get; init; }

    /// <summary>xloadflags (protocol ≥ 2.12; 0 before).</summary>
    public required ushort XLoadFlags { get; init; }

    /// <summary>Longest command line the kernel accepts, without the terminating NUL.</summary>
    public required uint CmdlineSize { get; init; }

    /// <summary>Preferred load address of the decompressed kernel (protocol ≥ 2.10; 0x100000 before).</summary>
    public required ulong PrefAddress { get; init; }

    /// <summary>Bytes of linear memory the kernel needs from its runtime start (protocol ≥ 2.10; 0 before).</summary>
    public required uint InitSize { get; init; }

    /// <summary>Length of the setup header from 0x1F1, as the image declares it (0x202 + byte at 0x201).</summary>
    public required int HeaderLength { get; init; }

    /// <summary>File offset of the protected-mode kernel: (setup_sects or 4, plus the boot sector) × 512.</summary>
    public int KernelOffset => ((SetupSects == 0 ? 4 : SetupSects) + 1) * 512;

    /// <summary>"2.15" style.</summary>
    public string VersionText => $"{Version >> 8}.{Version & 0xFF:D2}";

    /// <summary>
    /// Parses and validates the header of a bzImage. Throws <see cref="LinuxImageException"/> naming what is
    /// wrong for anything that is not a bzImage with protocol ≥ 2.06; never reads past <paramref name="image"/>.
    /// </summary>
    public static LinuxSetupHeader Parse(ReadOnlySpan<byte> image)
    {
        // Magic, boot_flag and version first (they end at 0x208); the version then says how far the header reaches.
        if (image.Length < VersionOffset + 2)
            throw new LinuxImageException($"kernel image is {image.Length} bytes: too short to hold a Linux setup header (needs 0x{VersionOffset + 2:x})");

        var bootFlag = U16(image, BootFlagOffset);
        var magic = U32(image, HeaderMagicOffset);
        if (magic != HeaderMagicValue)
        {
            var elf = image.Length >= 4 && image[0] == 0x7F && image[1] == (byte)'E' && image[2] == (byte)'L' && image[3] == (byte)'F';
            throw new LinuxImageException(elf
                ? "kernel image is an ELF file, not a bzImage (boot ELF kernels through the PVH loader)"
                : $"kernel image is not a bzImage: no \"HdrS\" magic at 0x202 (found 0x{magic:x8})");
        }
        if (bootFlag != BootFlagValue)
            throw new LinuxImageException($"kernel image is not a bzImage: boot_flag at 0x1FE is 0x{bootFlag:x4}, expected 0xaa55");

        var version = U16(image, VersionOffset);
        if (version < MinimumVersion)
            throw new LinuxImageException($"kernel boot protocol {version >> 8}.{version & 0xFF:D2} is too old: 2.06 or later is required");

        var headerLength = Math.Min(HeaderMagicOffset + image[JumpOffset + 1], HeaderLimit) - SetupSectsOffset;
        var fieldsEnd = version >= 0x020A ? InitSizeOffset + 4 : CmdlineSizeOffset + 4;
        if (image.Length < Math.Max(fieldsEnd, SetupSectsOffset + headerLength))
            throw new LinuxImageException($"kernel image is {image.Length} bytes: truncated inside its setup header");

        var loadFlags = image[LoadFlagsOffset];
        if ((loadFlags & LoadedHigh) == 0)
            throw new LinuxImageException("kernel image is a zImage (LOADED_HIGH clear in loadflags); only bzImage is supported");

        var header = new LinuxSetupHeader
        {
            SetupSects = image[SetupSectsOffset],
            Syssize = U32(image, SyssizeOffset),
            BootFlag = bootFlag,
            Version = version,
            LoadFlags = loadFlags,
            Code32Start = U32(image, Code32StartOffset),
            InitrdAddrMax = U32(image, InitrdAddrMaxOffset),
            KernelAlignment = U32(image, KernelAlignmentOffset),
            Relocatable = image[RelocatableOffset] != 0,
            MinAlignment = version >= 0x020A ? image[MinAlignmentOffset] : (byte)0,
            XLoadFlags = version >= 0x020C ? U16(image, XLoadFlagsOffset) : (ushort)0,
            CmdlineSize = U32(image, CmdlineSizeOffset),
            PrefAddress = version >= 0x020A ? U64(image, PrefAddressOffset) : 0x10_0000,
            InitSize = version >= 0x020A ? U32(image, InitSizeOffset) : 0,
            HeaderLength = headerLength,
        };

        if (header.KernelOffset >= image.Length)
            throw new LinuxImageException($"kernel image is {image.Length} bytes: truncated, its {header.SetupSects} setup sectors leave no protected-mode kernel");
        var kernelBytes = (ulong)(image.Length - header.KernelOffset);
        if ((ulong)header.Syssize * 16 > kernelBytes)
            throw new LinuxImageException($"kernel image is truncated: syssize promises 0x{(ulong)header.Syssize * 16:x} bytes of protected-mode kernel, the file holds 0x{kernelBytes:x}");
        return header;
    }

    private static ushort U16(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt16LittleEndian(b[o..]);
    private static uint U32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b[o..]);
    private static ulong U64(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt64LittleEndian(b[o..]);
}
