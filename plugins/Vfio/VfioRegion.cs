using System.Buffers.Binary;

namespace PluginVmm.Plugins.Vfio;

/// <summary>A part of a region that may be mmap()ed (struct vfio_region_sparse_mmap_area).</summary>
internal readonly record struct VfioMmapArea(ulong Offset, ulong Size);

/// <summary>
/// One region of a VFIO device (struct vfio_region_info): BARs 0-5, the expansion ROM, config space. Offset is where
/// the region starts in the device fd (for pread/pwrite and mmap).
/// </summary>
internal sealed record VfioRegion(int Index, ulong Size, long Offset, bool Readable, bool Writable, IReadOnlyList<VfioMmapArea> MmapAreas)
{
    /// <summary>vfio-pci region indices.</summary>
    public const int Rom = 6, Config = 7;

    private const uint FlagRead = 1, FlagWrite = 2, FlagMmap = 4, FlagCaps = 8;
    private const ushort CapSparseMmap = 1;

    /// <summary>An absent region (size 0), as vfio-pci reports unimplemented BARs.</summary>
    public static VfioRegion Absent(int index) => new(index, 0, 0, false, false, []);

    /// <summary>
    /// Parses the answer of VFIO_DEVICE_GET_REGION_INFO (header, then the capability chain when the buffer held it).
    /// The mmap-able areas are the sparse-mmap capability's when present, else the whole region when it is mmap-able,
    /// else none. Areas are clipped to the region; a malformed chain ends the walk (we then map less, never more).
    /// </summary>
    public static VfioRegion Parse(ReadOnlySpan<byte> info)
    {
        if (info.Length < 32) throw new ArgumentException("region info shorter than struct vfio_region_info", nameof(info));
        uint flags = U32(info, 4);
        int index = (int)U32(info, 8);
        uint capOffset = U32(info, 12);
        ulong size = BinaryPrimitives.ReadUInt64LittleEndian(info[16..]);
        long offset = BinaryPrimitives.ReadInt64LittleEndian(info[24..]);
        List<VfioMmapArea>? sparse = null;
        if ((flags & FlagCaps) != 0)
        {
            var seen = new HashSet<uint>();
            while (capOffset >= 32 && capOffset + 8 <= (uint)info.Length && seen.Add(capOffset))
            {
                var cap = info[(int)capOffset..];
                ushort id = BinaryPrimitives.ReadUInt16LittleEndian(cap);
                if (id == CapSparseMmap && cap.Length >= 16)
                {
                    uint count = U32(cap, 8);
                    sparse = [];
                    for (int i = 0; i < count && 16 + (i + 1) * 16 <= cap.Length; i++)
                    {
                        ulong o = BinaryPrimitives.ReadUInt64LittleEndian(cap[(16 + i * 16)..]);
                        ulong s = BinaryPrimitives.ReadUInt64LittleEndian(cap[(24 + i * 16)..]);
                        if (s != 0 && o < size && s <= size - o) sparse.Add(new VfioMmapArea(o, s));
                    }
                }
                capOffset = U32(cap, 4);
            }
        }
        IReadOnlyList<VfioMmapArea> areas = (flags & FlagMmap) == 0 || size == 0 ? []
            : sparse ?? (IReadOnlyList<VfioMmapArea>)[new VfioMmapArea(0, size)];
        return new VfioRegion(index, size, offset, (flags & FlagRead) != 0, (flags & FlagWrite) != 0, areas);
    }

    /// <summary>The argsz the kernel asked for (it sets argsz larger than ours when the capability chain did not fit).</summary>
    public static uint RequiredSize(ReadOnlySpan<byte> info) => U32(info, 0);

    private static uint U32(ReadOnlySpan<byte> b, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(b[offset..]);
}
