namespace PluginVmm.Plugins.VirtioBlock;

/// <summary>virtio-blk constants (virtio 1.2 §5.2; linux/virtio_blk.h).</summary>
internal static class BlockRequest
{
    public const uint TypeIn = 0, TypeOut = 1, TypeFlush = 4, TypeGetId = 8, TypeDiscard = 11, TypeWriteZeroes = 13;
    public const byte StatusOk = 0, StatusIoErr = 1, StatusUnsupported = 2;

    /// <summary>struct virtio_blk_outhdr: le32 type, le32 reserved, le64 sector.</summary>
    public const int HeaderSize = 16;

    /// <summary>struct virtio_blk_discard_write_zeroes: le64 sector, le32 num_sectors, le32 flags (bit 0 unmap).</summary>
    public const int SegmentSize = 16;

    /// <summary>GET_ID answer length (VIRTIO_BLK_ID_BYTES).</summary>
    public const int IdBytes = 20;

    public const int SectorShift = 9;
    public const uint SectorSize = 1u << SectorShift;

    // Feature bits.
    public const ulong FeatureSegMax = 1UL << 2, FeatureRo = 1UL << 5, FeatureBlkSize = 1UL << 6, FeatureFlush = 1UL << 9,
        FeatureMq = 1UL << 12, FeatureDiscard = 1UL << 13, FeatureWriteZeroes = 1UL << 14;
}
