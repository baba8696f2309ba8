using System.Buffers.Binary;
using System.Runtime.InteropServices;
using PluginVmm.Sdk.Memory;

namespace PluginVmm.Sdk.Virtio;

/// <summary>
/// The device side of a split virtqueue (virtio 1.2 §2.7): takes descriptor chains from the available ring and
/// returns them on the used ring, with indirect descriptors and EVENT_IDX notification suppression.
/// <para>
/// Everything in guest memory is hostile and may change under us (vCPUs run concurrently). Structural breaches
/// throw <see cref="VirtqueueException"/> (the transport then sets DEVICE_NEEDS_RESET): an avail index more than
/// the queue size ahead, a head or next index out of range, a chain longer than the queue (this also catches
/// loops), an indirect descriptor that is nested, combined with NEXT, not negotiated, empty, not a whole number
/// of 16-byte descriptors, not 8-byte aligned, longer than the queue, or outside RAM. Buffer problems that leave
/// the ring intact are reported on the chain (<see cref="DescriptorChain.Error"/>) so the device fails just that
/// request. Guest memory is read field by field through <see cref="IGuestMemory"/>; nothing is cached but the
/// avail index, which is read again once the chains it published are taken.
/// </para>
/// Not thread-safe: one thread at a time uses a queue (the transport serialises notifications per queue).
/// </summary>
public sealed class SplitVirtqueue
{
    private const ushort DescNext = 1, DescWrite = 2, DescIndirect = 4;
    private const ushort AvailNoInterrupt = 1;
    private const int DescriptorSize = 16;

    private readonly IGuestMemory _memory;
    private readonly Action _notifyDriver;
    private readonly ulong _desc, _avail, _used;
    private readonly List<VirtqBuffer> _walkReadable = [], _walkWritable = [];
    private ushort _lastAvail;
    // The avail index as last read: chains up to it are taken without reading the index again (QEMU's
    // shadow_avail_idx). The driver's vCPU writes that field on every addition, so each read of it can be a cache miss.
    private ushort _shadowAvail;
    private ushort _usedIdx;
    private ushort _signalledUsed;
    private bool _signalledValid;
    private volatile bool _stopped;

    /// <summary>
    /// Creates the queue over rings the driver placed at <paramref name="descTable"/>, <paramref name="availRing"/>
    /// and <paramref name="usedRing"/>. Throws <see cref="VirtqueueException"/> when the size is not a power of two
    /// up to 32768, a ring is misaligned or a ring is not wholly in guest RAM.
    /// </summary>
    public SplitVirtqueue(int index, IGuestMemory memory, ushort size, ulong descTable, ulong availRing, ulong usedRing,
        ulong features, Action notifyDriver)
    {
        if (size == 0 || size > 32768 || (size & (size - 1)) != 0) throw new VirtqueueException($"queue {index}: size {size} is not a power of two up to 32768");
        if (descTable % 16 != 0 || availRing % 2 != 0 || usedRing % 4 != 0) throw new VirtqueueException($"queue {index}: misaligned ring");
        if (!memory.Contains(descTable, (ulong)size * DescriptorSize) || !memory.Contains(availRing, 6 + 2UL * size)
            || !memory.Contains(usedRing, 6 + 8UL * size))
            throw new VirtqueueException($"queue {index}: ring outside guest RAM");
        Index = index;
        Size = size;
        _memory = memory;
        _desc = descTable;
        _avail = availRing;
        _used = usedRing;
        EventIdx = (features & VirtioFeatures.RingEventIdx) != 0;
        Indirect = (features & VirtioFeatures.RingIndirectDesc) != 0;
        _notifyDriver = notifyDriver;
        // The driver initialises the used ring to zeros; start from whatever index it holds.
        _usedIdx = ReadU16(_used + 2);
        _lastAvail = _usedIdx;
        _shadowAvail = _lastAvail;
    }

    /// <summary>Queue index within the device.</summary>
    public int Index { get; }

    /// <summary>Queue size (descriptors).</summary>
    public ushort Size { get; }

    /// <summary>VIRTIO_F_RING_EVENT_IDX was negotiated.</summary>
    public bool EventIdx { get; }

    /// <summary>VIRTIO_F_RING_INDIRECT_DESC was negotiated.</summary>
    public bool Indirect { get; }

    /// <summary>Chains returned so far (the device's used index).</summary>
    public ushort UsedIndex => _usedIdx;

    /// <summary>Chains taken since activation (diagnostics).</summary>
    public long Popped { get; private set; }

    /// <summary>Interrupts sent / suppressed by the driver (NO_INTERRUPT or used_event) since activation (diagnostics).</summary>
    public long InterruptsSent { get; private set; }

    /// <inheritdoc cref="InterruptsSent"/>
    public long InterruptsSuppressed { get; private set; }

    /// <summary>
    /// Takes the next available chain. False when the ring is empty; then (with EVENT_IDX) avail_event has been set
    /// so the driver notifies on its next addition. Throws <see cref="VirtqueueException"/> on a broken ring.
    /// <para>
    /// While chains are there, avail_event is left where it was: a driver adding more while the device is still
    /// draining the ring need not notify (every notification is a VM exit and a thread wake-up), because the device
    /// pops until the ring is empty and only then asks for the next notification. A device must therefore keep
    /// calling TryPop until it returns false before it waits for a notification.
    /// </para>
    /// </summary>
    public bool TryPop(out DescriptorChain chain)
    {
        chain = null!;
        if (_stopped) return false;
        if (_shadowAvail == _lastAvail && (_shadowAvail = ReadAvailIdx()) == _lastAvail)
        {
            if (!EventIdx) return false;
            // Ask for a notification at the next addition, then look again: the driver may have added one between
            // our read and its check of avail_event.
            WriteU16(AvailEventAddress, _lastAvail);
            Interlocked.MemoryBarrier();
            if ((_shadowAvail = ReadAvailIdx()) == _lastAvail) return false;
        }
        ushort head = ReadU16(_avail + 4 + 2UL * (ulong)(_lastAvail % Size));
        if (head >= Size) throw new VirtqueueException($"queue {Index}: avail ring entry {head} >= queue size {Size}");
        chain = Walk(head);
        _lastAvail++;
        Popped++;
        return true;
    }

    /// <summary>True when the driver has made chains available that were not taken yet.</summary>
    public bool HasAvailable => !_stopped && (_shadowAvail != _lastAvail || (_shadowAvail = ReadAvailIdx()) != _lastAvail);

    /// <summary>
    /// Turns driver notifications for this queue on or off (used.flags NO_NOTIFY, or avail_event with EVENT_IDX).
    /// After turning them on, check <see cref="HasAvailable"/> again before sleeping.
    /// </summary>
    public void SetNotification(bool enabled)
    {
        if (_stopped) return;
        if (EventIdx)
        {
            if (enabled) WriteU16(AvailEventAddress, _lastAvail);
        }
        else
        {
            WriteU16(_used, enabled ? (ushort)0 : (ushort)1);
        }
        Interlocked.MemoryBarrier();
    }

    /// <summary>Returns <paramref name="chain"/> with <paramref name="written"/> bytes written, and notifies the driver if it asked.</summary>
    public void Complete(DescriptorChain chain, uint written)
    {
        AddUsed(chain.Head, written);
        NotifyIfNeeded();
    }

    /// <summary>Puts (head, written) on the used ring and publishes the new used index.</summary>
    public void AddUsed(ushort head, uint written)
    {
        var element = new UsedElement(head, written);
        AddUsed(new ReadOnlySpan<UsedElement>(in element));
    }

    /// <summary>
    /// Puts several chains on the used ring and publishes them with one index update, so the driver sees all of them
    /// or none of them. A virtio-net packet spread over mergeable buffers must appear whole (virtio 1.2 §5.1.6.4): Linux
    /// reads num_buffers from the first buffer and takes the others at once, dropping the packet when they are not
    /// there yet.
    /// </summary>
    public void AddUsed(ReadOnlySpan<UsedElement> elements)
    {
        if (_stopped || elements.IsEmpty) return;
        Span<byte> b = stackalloc byte[8];
        ushort index = _usedIdx;
        foreach (var (head, written) in elements)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(b, head);
            BinaryPrimitives.WriteUInt32LittleEndian(b[4..], written);
            _memory.Write(_used + 4 + 8UL * (ulong)(index % Size), b);
            index++;
        }
        // The elements must be visible before the index that publishes them: a release store (a plain store on x86, not
        // a fence: this runs for every buffer of every packet).
        _usedIdx = index;
        WriteU16Release(_used + 2, _usedIdx);
    }

    /// <summary>Sends the queue's interrupt unless the driver suppressed it (NO_INTERRUPT, or used_event with EVENT_IDX).</summary>
    public void NotifyIfNeeded()
    {
        if (_stopped) return;
        // Our used index must be visible before we read the driver's suppression state.
        Interlocked.MemoryBarrier();
        bool notify;
        if (EventIdx)
        {
            ushort usedEvent = ReadU16(_avail + 4 + 2UL * Size);
            ushort old = _signalledUsed;
            bool valid = _signalledValid;
            _signalledUsed = _usedIdx;
            _signalledValid = true;
            notify = !valid || (ushort)(_usedIdx - usedEvent - 1) < (ushort)(_usedIdx - old);
        }
        else
        {
            notify = (ReadU16(_avail) & AvailNoInterrupt) == 0;
        }
        if (notify)
        {
            InterruptsSent++;
            _notifyDriver();
        }
        else
        {
            InterruptsSuppressed++;
        }
    }

    private ulong AvailEventAddress => _used + 4 + 8UL * Size;

    /// <summary>
    /// The device needs a reset (<see cref="VirtioPciTransport.Fail"/>): from now on the queue touches guest memory no
    /// more — nothing is taken, returned or notified — so a device thread the transport does not drive (virtio-net's
    /// receive loop) cannot keep filling buffers after DEVICE_NEEDS_RESET. A chain already taken may still be written
    /// by the device; it is not returned.
    /// </summary>
    internal void Stop() => _stopped = true;

    private ushort ReadAvailIdx()
    {
        // Ring entries and descriptors must be read after the index that published them: an acquire load (a plain
        // load on x86, not a fence: this runs for every chain taken).
        ushort idx = ReadU16Acquire(_avail + 2);
        if ((ushort)(idx - _lastAvail) > Size)
            throw new VirtqueueException($"queue {Index}: avail index jumped from {_lastAvail} to {idx} (queue size {Size})");
        return idx;
    }

    private DescriptorChain Walk(ushort head)
    {
        // Scratch lists reused across walks (one thread at a time uses a queue); the chain gets exact-size arrays.
        // Each descriptor is read exactly once: the guest may change it under us, and only the value we act on counts.
        var readable = _walkReadable;
        var writable = _walkWritable;
        readable.Clear();
        writable.Clear();
        string? error = null;
        ulong table = _desc;
        uint tableSize = Size;
        bool inIndirect = false;
        ushort index = head;
        var (addr, len, flags, next) = ReadDescriptor(table, index);
        int seen = 1;
        while (true)
        {
            if ((flags & DescIndirect) != 0)
            {
                if (!Indirect) throw new VirtqueueException($"queue {Index}: indirect descriptor without VIRTIO_F_RING_INDIRECT_DESC");
                if (inIndirect) throw new VirtqueueException($"queue {Index}: nested indirect descriptor");
                if ((flags & DescNext) != 0) throw new VirtqueueException($"queue {Index}: indirect descriptor with NEXT");
                if (len == 0 || len % DescriptorSize != 0 || len / DescriptorSize > Size || addr % 8 != 0)
                    throw new VirtqueueException($"queue {Index}: bad indirect table 0x{addr:x}+0x{len:x}");
                if (!_memory.Contains(addr, len)) throw new VirtqueueException($"queue {Index}: indirect table 0x{addr:x}+0x{len:x} outside guest RAM");
                table = addr;
                tableSize = len / DescriptorSize;
                inIndirect = true;
                seen = 0;
                index = 0;
            }
            else
            {
                var buffer = new VirtqBuffer(addr, len);
                if (error is null && !_memory.Contains(addr, len)) error = $"buffer 0x{addr:x}+0x{len:x} is outside guest RAM";
                if ((flags & DescWrite) != 0) writable.Add(buffer);
                else if (writable.Count > 0) error ??= "device-readable buffer after a device-writable one";
                else readable.Add(buffer);
                if ((flags & DescNext) == 0) break;
                if (next >= tableSize) throw new VirtqueueException($"queue {Index}: next index {next} outside a table of {tableSize}");
                index = next;
            }
            // Every table holds at most tableSize distinct descriptors, so a longer walk is a loop.
            if (++seen > tableSize) throw new VirtqueueException($"queue {Index}: chain from head {head} is longer than its table (loop?)");
            (addr, len, flags, next) = ReadDescriptor(table, index);
        }
        VirtqBuffer[] r = readable.Count == 0 ? [] : readable.ToArray(), w = writable.Count == 0 ? [] : writable.ToArray();
        var chain = new DescriptorChain(head, r, w, error);
        if (chain.Error is null && (chain.ReadableLength > uint.MaxValue || chain.WritableLength > uint.MaxValue))
            return new DescriptorChain(head, r, w, "buffer lengths add up to more than 4 GiB");
        return chain;
    }

    private (ulong Addr, uint Len, ushort Flags, ushort Next) ReadDescriptor(ulong table, ushort index)
    {
        Span<byte> d = stackalloc byte[DescriptorSize];
        _memory.Read(table + (ulong)index * DescriptorSize, d);
        return (BinaryPrimitives.ReadUInt64LittleEndian(d), BinaryPrimitives.ReadUInt32LittleEndian(d[8..]),
            BinaryPrimitives.ReadUInt16LittleEndian(d[12..]), BinaryPrimitives.ReadUInt16LittleEndian(d[14..]));
    }

    // Ring indices are naturally aligned 16-bit fields: read and written as one access through a fresh span.
    private ushort ReadU16(ulong address) => BinaryPrimitives.ReadUInt16LittleEndian(_memory.GetSpan(address, 2));

    private void WriteU16(ulong address, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(_memory.GetSpan(address, 2), value);

    // The ring indices as acquire/release accesses (virtio 1.2 §2.7.13: the driver's and device's smp_rmb/smp_wmb);
    // the fields are naturally aligned (the constructor checks the rings' alignment). x86-64 is little-endian.
    private ushort ReadU16Acquire(ulong address) => Volatile.Read(ref MemoryMarshal.Cast<byte, ushort>(_memory.GetSpan(address, 2))[0]);

    private void WriteU16Release(ulong address, ushort value) => Volatile.Write(ref MemoryMarshal.Cast<byte, ushort>(_memory.GetSpan(address, 2))[0], value);
}
