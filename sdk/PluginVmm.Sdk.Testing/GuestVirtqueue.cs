using PluginVmm.Sdk.Memory;

namespace PluginVmm.Sdk.Testing;

/// <summary>A buffer a test puts in a chain: guest address, length, device-writable or not.</summary>
public readonly record struct GuestBuffer(ulong Address, uint Length, bool Writable);

/// <summary>
/// The guest (driver) side of a split virtqueue in test guest memory: lays out the descriptor table, available
/// and used rings, adds chains (direct or through an indirect table), publishes them, and reads the used ring.
/// Low-level writers let a test build hostile rings (loops, bad indices, bad indirect tables).
/// </summary>
public sealed class GuestVirtqueue
{
    /// <summary>VIRTQ_DESC_F_NEXT / WRITE / INDIRECT.</summary>
    public const ushort Next = 1, Write = 2, Indirect = 4;

    private readonly IGuestMemory _memory;
    private ushort _availIdx;
    private ushort _lastUsed;
    private ushort _nextDesc;

    /// <summary>Places a queue of <paramref name="size"/> at <paramref name="baseAddress"/> (16-byte aligned): descriptors, then avail, then used (4-byte aligned).</summary>
    public GuestVirtqueue(IGuestMemory memory, ushort size, ulong baseAddress)
    {
        _memory = memory;
        Size = size;
        Desc = baseAddress;
        Avail = Desc + 16UL * size;
        Used = (Avail + 6 + 2UL * size + 3) & ~3UL;
        End = Used + 6 + 8UL * size;
        Span<byte> zero = new byte[(int)(End - Desc)];
        memory.Write(Desc, zero);
    }

    /// <summary>Queue size.</summary>
    public ushort Size { get; }

    /// <summary>Ring addresses.</summary>
    public ulong Desc { get; }

    /// <summary>Available ring address.</summary>
    public ulong Avail { get; }

    /// <summary>Used ring address.</summary>
    public ulong Used { get; }

    /// <summary>First byte after the used ring.</summary>
    public ulong End { get; }

    /// <summary>The avail index published so far.</summary>
    public ushort AvailIndex => _availIdx;

    /// <summary>Writes descriptor <paramref name="index"/> of the table at <paramref name="table"/>.</summary>
    public void WriteDescriptor(ulong table, int index, ulong address, uint length, ushort flags, ushort next)
    {
        ulong d = table + 16UL * (ulong)index;
        _memory.WriteU64(d, address);
        _memory.WriteU32(d + 8, length);
        _memory.WriteU16(d + 12, flags);
        _memory.WriteU16(d + 14, next);
    }

    /// <summary>Writes descriptor <paramref name="index"/> of the queue's own table.</summary>
    public void WriteDescriptor(int index, ulong address, uint length, ushort flags, ushort next = 0) =>
        WriteDescriptor(Desc, index, address, length, flags, next);

    /// <summary>Adds a direct chain using the next free descriptors; returns its head (not yet published).</summary>
    public ushort AddChain(params GuestBuffer[] buffers)
    {
        ushort head = _nextDesc;
        for (int i = 0; i < buffers.Length; i++)
        {
            ushort index = (ushort)((head + i) % Size);
            ushort next = (ushort)((head + i + 1) % Size);
            ushort flags = (ushort)((buffers[i].Writable ? Write : 0) | (i + 1 < buffers.Length ? Next : 0));
            WriteDescriptor(index, buffers[i].Address, buffers[i].Length, flags, next);
        }
        _nextDesc = (ushort)((head + buffers.Length) % Size);
        return head;
    }

    /// <summary>Adds a chain as one descriptor pointing at an indirect table written at <paramref name="table"/>.</summary>
    public ushort AddIndirectChain(ulong table, params GuestBuffer[] buffers)
    {
        for (int i = 0; i < buffers.Length; i++)
        {
            ushort flags = (ushort)((buffers[i].Writable ? Write : 0) | (i + 1 < buffers.Length ? Next : 0));
            WriteDescriptor(table, i, buffers[i].Address, buffers[i].Length, flags, (ushort)(i + 1));
        }
        ushort head = _nextDesc;
        WriteDescriptor(head, table, (uint)(16 * buffers.Length), Indirect);
        _nextDesc = (ushort)((head + 1) % Size);
        return head;
    }

    /// <summary>Puts <paramref name="head"/> on the available ring and publishes it (avail idx + 1).</summary>
    public void Publish(ushort head)
    {
        _memory.WriteU16(Avail + 4 + 2UL * (ulong)(_availIdx % Size), head);
        Interlocked.MemoryBarrier();
        _availIdx++;
        _memory.WriteU16(Avail + 2, _availIdx);
    }

    /// <summary>Adds and publishes a direct chain; returns its head.</summary>
    public ushort Submit(params GuestBuffer[] buffers)
    {
        ushort head = AddChain(buffers);
        Publish(head);
        return head;
    }

    /// <summary>Writes the avail index directly (hostile: jumps).</summary>
    public void SetAvailIndex(ushort value)
    {
        _availIdx = value;
        _memory.WriteU16(Avail + 2, value);
    }

    /// <summary>Writes avail.flags (1 = NO_INTERRUPT).</summary>
    public void SetAvailFlags(ushort flags) => _memory.WriteU16(Avail, flags);

    /// <summary>Writes used_event (EVENT_IDX).</summary>
    public void SetUsedEvent(ushort value) => _memory.WriteU16(Avail + 4 + 2UL * Size, value);

    /// <summary>The device's avail_event (EVENT_IDX).</summary>
    public ushort AvailEvent => _memory.ReadU16(Used + 4 + 8UL * Size);

    /// <summary>used.flags (1 = NO_NOTIFY).</summary>
    public ushort UsedFlags => _memory.ReadU16(Used);

    /// <summary>The device's used index.</summary>
    public ushort UsedIndex => _memory.ReadU16(Used + 2);

    /// <summary>Takes the next used element; false when the device has returned nothing new.</summary>
    public bool TryGetUsed(out ushort head, out uint length)
    {
        head = 0;
        length = 0;
        if (UsedIndex == _lastUsed) return false;
        Interlocked.MemoryBarrier();
        ulong e = Used + 4 + 8UL * (ulong)(_lastUsed % Size);
        head = (ushort)_memory.ReadU32(e);
        length = _memory.ReadU32(e + 4);
        _lastUsed++;
        return true;
    }

    /// <summary>Waits until a used element is there and takes it; throws <see cref="TimeoutException"/> after <paramref name="timeout"/>.</summary>
    public (ushort Head, uint Length) WaitUsed(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (TryGetUsed(out var head, out var length)) return (head, length);
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the device returned no used buffer");
            Thread.Sleep(1);
        }
    }
}
