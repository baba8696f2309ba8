using System.Buffers.Binary;
using System.Text;

namespace PluginVmm.Core.Boot;

/// <summary>One PT_LOAD segment: file bytes [Offset, Offset+FileSize) go to PhysicalAddress, zero-filled to MemorySize.</summary>
public readonly record struct ElfLoadSegment(ulong Offset, ulong FileSize, ulong PhysicalAddress, ulong MemorySize);

/// <summary>
/// The parts of an x86 ELF (32- or 64-bit, little-endian) that PVH boot needs: the PT_LOAD segments and the
/// XEN_ELFNOTE_PHYS32_ENTRY (type 18) note, searched in PT_NOTE segments and then SHT_NOTE sections.
/// Every offset and size is checked against the file; bad input gives a <see cref="PvhImageException"/>.
/// </summary>
public sealed record PvhElfImage(bool Is64Bit, ulong EntryPoint, IReadOnlyList<ElfLoadSegment> Segments)
{
    /// <summary>XEN_ELFNOTE_PHYS32_ENTRY.</summary>
    public const uint Phys32EntryNote = 18;

    private const uint PtLoad = 1, PtNote = 4, ShtNote = 7;
    private const ushort EmX86 = 3, EmX86_64 = 62;

    /// <summary>True when <paramref name="image"/> starts with the ELF magic.</summary>
    public static bool IsElf(ReadOnlySpan<byte> image) =>
        image.Length >= 4 && image[0] == 0x7F && image[1] == (byte)'E' && image[2] == (byte)'L' && image[3] == (byte)'F';

    /// <summary>Parses <paramref name="image"/>.</summary>
    public static PvhElfImage Parse(ReadOnlySpan<byte> image)
    {
        if (!IsElf(image)) throw new PvhImageException("not an ELF file (no \\x7fELF magic)");
        if (image.Length < 52) throw new PvhImageException($"ELF header truncated ({image.Length} bytes)");
        bool is64 = image[4] switch
        {
            1 => false,
            2 => true,
            _ => throw new PvhImageException($"unknown ELF class {image[4]}"),
        };
        if (image[5] != 1) throw new PvhImageException("ELF is not little-endian");
        if (is64 && image.Length < 64) throw new PvhImageException($"ELF64 header truncated ({image.Length} bytes)");
        ushort machine = U16(image, 18);
        if (machine != EmX86 && machine != EmX86_64) throw new PvhImageException($"ELF machine {machine} is not x86 or x86-64");

        ulong phoff = is64 ? U64(image, 32) : U32(image, 28);
        ulong shoff = is64 ? U64(image, 40) : U32(image, 32);
        int phentsize = U16(image, is64 ? 54 : 42), phnum = U16(image, is64 ? 56 : 44);
        int shentsize = U16(image, is64 ? 58 : 46), shnum = U16(image, is64 ? 60 : 48);

        var segments = new List<ElfLoadSegment>();
        ulong? entry = null;
        if (phnum > 0)
        {
            if (phentsize < (is64 ? 56 : 32)) throw new PvhImageException($"program header entry size {phentsize} is too small");
            CheckRange(image, phoff, (ulong)phentsize * (ulong)phnum, "program headers");
            for (int i = 0; i < phnum; i++)
            {
                var ph = image.Slice((int)phoff + i * phentsize, phentsize);
                uint type = U32(ph, 0);
                ulong offset = is64 ? U64(ph, 8) : U32(ph, 4);
                ulong paddr = is64 ? U64(ph, 24) : U32(ph, 12);
                ulong filesz = is64 ? U64(ph, 32) : U32(ph, 16);
                ulong memsz = is64 ? U64(ph, 40) : U32(ph, 20);
                if (type == PtLoad)
                {
                    CheckRange(image, offset, filesz, $"PT_LOAD segment {i}");
                    if (memsz < filesz) throw new PvhImageException($"PT_LOAD segment {i}: memory size 0x{memsz:x} < file size 0x{filesz:x}");
                    if (paddr > ulong.MaxValue - memsz) throw new PvhImageException($"PT_LOAD segment {i} wraps the address space");
                    if (memsz > 0) segments.Add(new ElfLoadSegment(offset, filesz, paddr, memsz));
                }
                else if (type == PtNote && entry is null)
                {
                    CheckRange(image, offset, filesz, $"PT_NOTE segment {i}");
                    entry = FindEntryNote(image.Slice((int)offset, (int)filesz));
                }
            }
        }
        if (entry is null && shnum > 0 && shoff != 0)
        {
            if (shentsize < (is64 ? 64 : 40)) throw new PvhImageException($"section header entry size {shentsize} is too small");
            CheckRange(image, shoff, (ulong)shentsize * (ulong)shnum, "section headers");
            for (int i = 0; i < shnum && entry is null; i++)
            {
                var sh = image.Slice((int)shoff + i * shentsize, shentsize);
                if (U32(sh, 4) != ShtNote) continue;
                ulong offset = is64 ? U64(sh, 24) : U32(sh, 16);
                ulong size = is64 ? U64(sh, 32) : U32(sh, 20);
                CheckRange(image, offset, size, $"SHT_NOTE section {i}");
                entry = FindEntryNote(image.Slice((int)offset, (int)size));
            }
        }
        if (entry is null)
            throw new PvhImageException("ELF has no XEN_ELFNOTE_PHYS32_ENTRY note: it is not a PVH kernel (build with CONFIG_PVH=y)");
        if (segments.Count == 0) throw new PvhImageException("ELF has no PT_LOAD segments");
        return new PvhElfImage(is64, entry.Value, segments);
    }

    // Notes: namesz, descsz, type (u32 each), name padded to 4, desc padded to 4.
    private static ulong? FindEntryNote(ReadOnlySpan<byte> notes)
    {
        int pos = 0;
        while (notes.Length - pos >= 12)
        {
            uint namesz = U32(notes, pos), descsz = U32(notes, pos + 4), type = U32(notes, pos + 8);
            ulong nameStart = (ulong)pos + 12;
            ulong descStart = nameStart + Align4(namesz);
            ulong next = descStart + Align4(descsz);
            if (next > (ulong)notes.Length) return null;  // truncated note: stop, nothing more to trust here
            var name = notes.Slice((int)nameStart, (int)namesz);
            if (type == Phys32EntryNote && Encoding.ASCII.GetString(name).TrimEnd('\0') == "Xen")
            {
                var desc = notes.Slice((int)descStart, (int)descsz);
                return descsz switch
                {
                    4 => U32(desc, 0),
                    8 => U64(desc, 0),
                    _ => throw new PvhImageException($"XEN_ELFNOTE_PHYS32_ENTRY has a {descsz}-byte value (expected 4 or 8)"),
                };
            }
            pos = (int)next;
        }
        return null;
    }

    private static ulong Align4(uint v) => ((ulong)v + 3) & ~3UL;

    private static void CheckRange(ReadOnlySpan<byte> image, ulong offset, ulong size, string what)
    {
        if (offset > (ulong)image.Length || size > (ulong)image.Length - offset)
            throw new PvhImageException($"{what} at file offset 0x{offset:x} (+0x{size:x}) lies outside the {image.Length}-byte file");
    }

    private static ushort U16(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt16LittleEndian(b[o..]);
    private static uint U32(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt32LittleEndian(b[o..]);
    private static ulong U64(ReadOnlySpan<byte> b, int o) => BinaryPrimitives.ReadUInt64LittleEndian(b[o..]);
}
