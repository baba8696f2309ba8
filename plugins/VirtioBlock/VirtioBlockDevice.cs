using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Virtio;
using static PluginVmm.Plugins.VirtioBlock.BlockRequest;

namespace PluginVmm.Plugins.VirtioBlock;

/// <summary>
/// virtio-blk over a raw image file (virtio 1.2 §5.2): IN, OUT, FLUSH (fsync), GET_ID, DISCARD, WRITE_ZEROES;
/// capacity, seg_max, blk_size, num_queues and the discard/write-zeroes limits in config space. A read-only
/// device offers VIRTIO_BLK_F_RO and fails writes, discards and write-zeroes with IOERR.
/// <para>
/// Every request is checked against the chain it came in: the header must be device-readable, the status byte
/// is the last byte of the last device-writable buffer, data must stay inside the disk. A request that breaks
/// a rule completes with IOERR (or UNSUPP for an unknown type or flag); a chain with no place for the status
/// byte is returned with nothing written. File I/O goes straight between the file and guest RAM: one
/// preadv/pwritev over all of a request's data buffers (<see cref="GuestFileIo"/>), every range bounds-checked.
/// </para>
/// </summary>
public sealed class VirtioBlockDevice : IVirtioDevice
{
    /// <summary>Queue size offered.</summary>
    public const ushort QueueSize = 256;

    /// <summary>Largest discard / write-zeroes in sectors per segment, and segments per request.</summary>
    public const uint MaxDiscardSectors = 1u << 22, MaxDiscardSegments = 32;

    private const int ChunkBytes = 1 << 20;

    private readonly FileStream _file;
    private readonly SafeFileHandle _handle;
    private readonly ILogger _logger;
    private readonly byte[] _id;
    private VirtioActivation? _active;

    /// <summary>Opens <paramref name="path"/> (read-only when <paramref name="readOnly"/>) as a disk with <paramref name="queues"/> queues.</summary>
    public VirtioBlockDevice(string path, bool readOnly, int queues, string serial, ILogger logger)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(queues, 1);
        _file = new FileStream(path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite, FileShare.ReadWrite, bufferSize: 0);
        _handle = _file.SafeFileHandle;
        _logger = logger;
        ReadOnly = readOnly;
        QueueCount = queues;
        CapacitySectors = (ulong)_file.Length >> SectorShift;
        _id = new byte[IdBytes];
        Encoding.ASCII.GetBytes(serial.Length > IdBytes ? serial[..IdBytes] : serial).CopyTo(_id, 0);
        if (_file.Length % SectorSize != 0)
            logger.LogWarning("{Path}: size {Size} is not a multiple of 512; the last partial sector is not visible", path, _file.Length);
    }

    /// <summary>Disk size in 512-byte sectors.</summary>
    public ulong CapacitySectors { get; }

    /// <summary>True when the guest may not write.</summary>
    public bool ReadOnly { get; }

    /// <inheritdoc/>
    public ushort DeviceType => VirtioPciLayout.TypeBlock;

    /// <inheritdoc/>
    public ulong DeviceFeatures =>
        FeatureSegMax | FeatureBlkSize | FeatureFlush | (QueueCount > 1 ? FeatureMq : 0)
        | (ReadOnly ? FeatureRo : FeatureDiscard | FeatureWriteZeroes);

    /// <inheritdoc/>
    public int QueueCount { get; }

    /// <inheritdoc/>
    public ushort MaxQueueSize(int queue) => QueueSize;

    /// <inheritdoc/>
    public uint ConfigLength => 0x3C;

    /// <inheritdoc/>
    public void ReadConfig(uint offset, Span<byte> data)
    {
        Span<byte> c = stackalloc byte[(int)ConfigLength];
        c.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(c, CapacitySectors);          // capacity
        BinaryPrimitives.WriteUInt32LittleEndian(c[12..], QueueSize - 2);      // seg_max: header and status take two
        BinaryPrimitives.WriteUInt32LittleEndian(c[20..], SectorSize);         // blk_size
        BinaryPrimitives.WriteUInt16LittleEndian(c[34..], (ushort)QueueCount); // num_queues
        BinaryPrimitives.WriteUInt32LittleEndian(c[36..], MaxDiscardSectors);  // max_discard_sectors
        BinaryPrimitives.WriteUInt32LittleEndian(c[40..], MaxDiscardSegments); // max_discard_seg
        BinaryPrimitives.WriteUInt32LittleEndian(c[44..], 1);                  // discard_sector_alignment
        BinaryPrimitives.WriteUInt32LittleEndian(c[48..], MaxDiscardSectors);  // max_write_zeroes_sectors
        BinaryPrimitives.WriteUInt32LittleEndian(c[52..], MaxDiscardSegments); // max_write_zeroes_seg
        c.Slice((int)offset, data.Length).CopyTo(data);                        // write_zeroes_may_unmap stays 0
    }

    /// <inheritdoc/>
    public void WriteConfig(uint offset, ReadOnlySpan<byte> data)
    {
        // Nothing is writable without VIRTIO_BLK_F_CONFIG_WCE.
    }

    /// <inheritdoc/>
    public void Activate(VirtioActivation activation) => _active = activation;

    /// <inheritdoc/>
    public void QueueNotified(int queue)
    {
        if (_active is not { } active || active.Queues[queue] is not { } q) return;
        while (q.TryPop(out var chain))
            q.AddUsed(chain.Head, Handle(active.Memory, chain));
        q.NotifyIfNeeded();
    }

    /// <inheritdoc/>
    public void Reset() => _active = null;

    /// <inheritdoc/>
    public void Dispose() => _file.Dispose();

    /// <summary>Carries out one request; returns the bytes written into the chain (data + status).</summary>
    internal uint Handle(IGuestMemory memory, DescriptorChain chain)
    {
        // The status byte is the last byte of the last device-writable buffer. A buffer whose end wraps past 2^64
        // has no last byte: without the check its "last byte" would be some unrelated guest address.
        if (chain.Writable.Count == 0 || chain.Writable[^1] is not { Length: > 0 } last
            || last.Address > ulong.MaxValue - (last.Length - 1) || !memory.Contains(last.Address + last.Length - 1, 1))
            return 0;
        ulong statusAddress = last.Address + last.Length - 1;
        ulong dataIn = chain.WritableLength - 1;   // room for IN / GET_ID data before the status byte
        byte status;
        uint written = 0;
        try
        {
            (status, written) = Execute(memory, chain, dataIn);
        }
        catch (Exception e) when (e is IOException or GuestMemoryException or UnauthorizedAccessException or NotSupportedException)
        {
            _logger.LogDebug(e, "virtio-blk request failed");
            status = StatusIoErr;
            written = 0;
        }
        memory.Write(statusAddress, [status]);
        return written + 1;
    }

    private (byte Status, uint Written) Execute(IGuestMemory memory, DescriptorChain chain, ulong dataIn)
    {
        if (chain.Error is not null || chain.ReadableLength < HeaderSize) return (StatusIoErr, 0);
        Span<byte> header = stackalloc byte[HeaderSize];
        chain.Read(memory, 0, header);
        uint type = BinaryPrimitives.ReadUInt32LittleEndian(header);
        ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(header[8..]);
        ulong dataOut = chain.ReadableLength - HeaderSize;
        switch (type)
        {
            case TypeIn:
                if (!InDisk(sector, dataIn)) return (StatusIoErr, 0);
                ReadDisk(memory, chain, sector << SectorShift, dataIn);
                return (StatusOk, (uint)dataIn);
            case TypeOut:
                // Data to write must be device-readable; a device-writable data buffer means a malformed request.
                if (ReadOnly || dataIn != 0 || !InDisk(sector, dataOut)) return (StatusIoErr, 0);
                WriteDisk(memory, chain, sector << SectorShift, dataOut);
                return (StatusOk, 0);
            case TypeFlush:
                if (!ReadOnly) _file.Flush(flushToDisk: true);
                return (StatusOk, 0);
            case TypeGetId:
                int n = (int)Math.Min(dataIn, IdBytes);
                chain.Write(memory, 0, _id.AsSpan(0, n));
                return (StatusOk, (uint)n);
            case TypeDiscard:
            case TypeWriteZeroes:
                if (ReadOnly) return (StatusIoErr, 0);
                return (DiscardOrZero(memory, chain, type == TypeWriteZeroes, dataOut), 0);
            default:
                return (StatusUnsupported, 0);
        }
    }

    private bool InDisk(ulong sector, ulong bytes) =>
        sector <= CapacitySectors && bytes % SectorSize == 0 && bytes >> SectorShift <= CapacitySectors - sector;

    private void ReadDisk(IGuestMemory memory, DescriptorChain chain, ulong position, ulong bytes)
    {
        var ranges = Ranges(chain.Writable, 0, bytes, out int count);
        try
        {
            // One preadv straight into the guest buffers (the data part of the chain, before the status byte).
            long got = GuestFileIo.ReadAt(memory, _handle, ranges.AsSpan(0, count), (long)position);
            ClearFrom(memory, ranges.AsSpan(0, count), got);   // beyond the end of a file that shrank under us
        }
        finally
        {
            ArrayPool<GuestRange>.Shared.Return(ranges);
        }
    }

    private void WriteDisk(IGuestMemory memory, DescriptorChain chain, ulong position, ulong bytes)
    {
        var ranges = Ranges(chain.Readable, HeaderSize, bytes, out int count);
        try
        {
            GuestFileIo.WriteAt(memory, _handle, ranges.AsSpan(0, count), (long)position);
        }
        finally
        {
            ArrayPool<GuestRange>.Shared.Return(ranges);
        }
    }

    private static void ClearFrom(IGuestMemory memory, ReadOnlySpan<GuestRange> ranges, long done)
    {
        foreach (var r in ranges)
        {
            if (done >= r.Length)
            {
                done -= r.Length;
                continue;
            }
            memory.GetSpan(r.Address + (ulong)done, r.Length - (int)done).Clear();
            done = 0;
        }
    }

    // The guest ranges covering `bytes` bytes of `buffers` from `offset` on, in a pooled array (return it), each at
    // most ChunkBytes long so no range length overflows an int whatever the descriptor lengths. The caller checked
    // that the buffers hold that many bytes.
    private static GuestRange[] Ranges(IReadOnlyList<VirtqBuffer> buffers, ulong offset, ulong bytes, out int count)
    {
        var ranges = ArrayPool<GuestRange>.Shared.Rent(buffers.Count + 1);
        count = 0;
        foreach (var b in buffers)
        {
            if (bytes == 0) break;
            if (offset >= b.Length)
            {
                offset -= b.Length;
                continue;
            }
            ulong address = b.Address + offset;
            ulong left = Math.Min(bytes, b.Length - offset);
            offset = 0;
            bytes -= left;
            while (left > 0)
            {
                int n = (int)Math.Min(left, ChunkBytes);
                if (count == ranges.Length) Grow(ref ranges);
                ranges[count++] = new GuestRange(address, n);
                address += (ulong)n;
                left -= (ulong)n;
            }
        }
        return ranges;
    }

    private static void Grow(ref GuestRange[] ranges)
    {
        var bigger = ArrayPool<GuestRange>.Shared.Rent(ranges.Length * 2);
        ranges.CopyTo(bigger, 0);
        ArrayPool<GuestRange>.Shared.Return(ranges);
        ranges = bigger;
    }

    private byte DiscardOrZero(IGuestMemory memory, DescriptorChain chain, bool zero, ulong payload)
    {
        if (payload == 0 || payload % SegmentSize != 0 || payload / SegmentSize > MaxDiscardSegments) return StatusUnsupported;
        int count = (int)(payload / SegmentSize);
        Span<byte> segments = stackalloc byte[count * SegmentSize];
        chain.Read(memory, HeaderSize, segments);
        // Check every segment before changing anything, so a bad request leaves the disk as it was.
        for (int i = 0; i < count; i++)
        {
            var s = segments.Slice(i * SegmentSize, SegmentSize);
            ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(s);
            uint sectors = BinaryPrimitives.ReadUInt32LittleEndian(s[8..]);
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(s[12..]);
            // Unmap is only defined for write-zeroes; reserved flag bits are never valid.
            if ((flags & ~1u) != 0 || (!zero && flags != 0)) return StatusUnsupported;
            if (sectors > MaxDiscardSectors || !InDisk(sector, (ulong)sectors << SectorShift)) return StatusIoErr;
        }
        if (!zero) return StatusOk;   // discard is a hint: the data may stay (no hole punching without fallocate)
        var zeros = new byte[ChunkBytes];
        for (int i = 0; i < count; i++)
        {
            var s = segments.Slice(i * SegmentSize, SegmentSize);
            long position = (long)(BinaryPrimitives.ReadUInt64LittleEndian(s) << SectorShift);
            long left = (long)BinaryPrimitives.ReadUInt32LittleEndian(s[8..]) << SectorShift;
            while (left > 0)
            {
                int n = (int)Math.Min(left, ChunkBytes);
                RandomAccess.Write(_handle, zeros.AsSpan(0, n), position);
                position += n;
                left -= n;
            }
        }
        return StatusOk;
    }
}
