using System.Buffers.Binary;

namespace PluginVmm.Tests.Fuzz;

/// <summary>The model's reading of one chain: its buffers, or why the device must fail the request.</summary>
public sealed record ModelChain(ushort Head, List<(ulong Address, uint Length)> Readable, List<(ulong Address, uint Length)> Writable, bool BufferError)
{
    public ulong ReadableLength => Readable.Aggregate(0UL, (s, b) => s + b.Length);

    public ulong WritableLength => Writable.Aggregate(0UL, (s, b) => s + b.Length);
}

/// <summary>The ring is structurally broken: the device must set DEVICE_NEEDS_RESET.</summary>
public sealed class ModelRingBroken(string message) : Exception(message);

/// <summary>
/// A plain reference model of the device side of one split virtqueue (virtio 1.2 §2.7), written from the spec for the
/// fuzzer and kept as simple as possible: it works on a copy of guest RAM (a byte array at <see cref="Base"/>), reads
/// fields as it goes, and does exactly what a device must: take available heads in order, walk chains (indirect tables
/// when negotiated), put (head, written) on the used ring, maintain avail_event with EVENT_IDX. What the spec leaves
/// to the device the model does as the project documents it (the limits in <see cref="PluginVmm.Sdk.Virtio.SplitVirtqueue"/>'s
/// summary). A structural breach throws <see cref="ModelRingBroken"/>.
/// </summary>
public sealed class VirtqueueModel
{
    private const ushort Next = 1, Write = 2, Indirect = 4;

    private readonly ulong _desc, _avail, _used;
    private readonly bool _eventIdx, _indirect;
    private ushort _lastAvail, _usedIdx;
    // The avail index as last read, used until the chains it published are taken; the spec lets a device act on an
    // index it read earlier, and SplitVirtqueue does so (QEMU's shadow_avail_idx): the model must read when it does.
    private ushort _shadowAvail;

    public VirtqueueModel(byte[] memory, ulong baseAddress, ushort size, ulong desc, ulong avail, ulong used, bool eventIdx, bool indirect)
    {
        Memory = memory;
        Base = baseAddress;
        Size = size;
        _desc = desc;
        _avail = avail;
        _used = used;
        _eventIdx = eventIdx;
        _indirect = indirect;
        _usedIdx = Read16(used + 2);
        _lastAvail = _usedIdx;
        _shadowAvail = _lastAvail;
    }

    /// <summary>A copy over a copy of the memory, to try what the device would do without doing it.</summary>
    public VirtqueueModel Clone()
    {
        var copy = new VirtqueueModel(Memory.ToArray(), Base, Size, _desc, _avail, _used, _eventIdx, _indirect)
        {
            _lastAvail = _lastAvail,
            _shadowAvail = _shadowAvail,
            _usedIdx = _usedIdx,
        };
        copy.Popped.AddRange(Popped);
        return copy;
    }

    /// <summary>
    /// Whether a queue with these rings can be created at all (power-of-two size, aligned, wholly in RAM); the device
    /// must fail activation otherwise.
    /// </summary>
    public static bool RingsValid(ulong ramBase, ulong ramSize, ushort size, ulong desc, ulong avail, ulong used) =>
        size != 0 && size <= 32768 && (size & (size - 1)) == 0 && desc % 16 == 0 && avail % 2 == 0 && used % 4 == 0
        && InRam(ramBase, ramSize, desc, 16UL * size) && InRam(ramBase, ramSize, avail, 6 + 2UL * size) && InRam(ramBase, ramSize, used, 6 + 8UL * size);

    /// <summary>Guest RAM the model works on (replaced by a fresh copy before each step).</summary>
    public byte[] Memory { get; set; }

    public ulong Base { get; }

    public ushort Size { get; }

    public ushort UsedIndex => _usedIdx;

    public ushort LastAvail => _lastAvail;

    /// <summary>Heads taken from the avail ring, in order (each must reappear on the used ring and nowhere else).</summary>
    public List<ushort> Popped { get; } = [];

    public bool Contains(ulong address, ulong length) => InRam(Base, (ulong)Memory.Length, address, length);

    private static bool InRam(ulong ramBase, ulong ramSize, ulong address, ulong length) =>
        address >= ramBase && address - ramBase <= ramSize && length <= ramSize - (address - ramBase);

    /// <summary>
    /// Available chains not taken yet: those of the avail index last read, or when all of them are taken, of the index
    /// read now (throws when it ran ahead by more than the queue size).
    /// </summary>
    public int Pending
    {
        get
        {
            if (_shadowAvail != _lastAvail) return (ushort)(_shadowAvail - _lastAvail);
            ushort idx = Read16(_avail + 2);
            int pending = (ushort)(idx - _lastAvail);
            if (pending > Size) throw new ModelRingBroken($"avail index jumped from {_lastAvail} to {idx}");
            _shadowAvail = idx;
            return pending;
        }
    }

    /// <summary>Takes the next chain, or null when none is available (then, with EVENT_IDX, avail_event = last avail).</summary>
    public ModelChain? Pop()
    {
        if (Pending == 0)
        {
            if (_eventIdx) Write16(AvailEvent, _lastAvail);
            if (Pending == 0) return null;   // avail_event may share bytes with the avail index
        }
        ushort head = Read16(_avail + 4 + 2UL * (ulong)(_lastAvail % Size));
        if (head >= Size) throw new ModelRingBroken($"head {head} >= queue size {Size}");
        var chain = Walk(head);
        _lastAvail++;
        Popped.Add(head);
        // avail_event stays where it was while chains are there: the device asks for a notification only when the
        // ring is empty (above), so a driver adding chains during the drain need not notify.
        return chain;
    }

    /// <summary>Returns a chain: the used element, then the index that publishes it.</summary>
    public void AddUsed(ushort head, uint written)
    {
        ulong elem = _used + 4 + 8UL * (ulong)(_usedIdx % Size);
        Write32(elem, head);
        Write32(elem + 4, written);
        _usedIdx++;
        Write16(_used + 2, _usedIdx);
    }

    /// <summary>With EVENT_IDX and an empty ring, a waiting device asks to be notified (avail_event); else clears NO_NOTIFY.</summary>
    public void EnableNotification()
    {
        if (_eventIdx) Write16(AvailEvent, _lastAvail);
        else Write16(_used, 0);
    }

    private ulong AvailEvent => _used + 4 + 8UL * Size;

    private ModelChain Walk(ushort head)
    {
        var readable = new List<(ulong, uint)>();
        var writable = new List<(ulong, uint)>();
        bool error = false;
        ulong table = _desc;
        uint tableSize = Size;
        bool inIndirect = false;
        int seen = 0;
        ushort index = head;
        while (true)
        {
            if (++seen > tableSize) throw new ModelRingBroken($"chain from {head} longer than its table");
            ulong d = table + 16UL * index;
            ulong addr = Read64(d);
            uint len = Read32(d + 8);
            ushort flags = Read16(d + 12), next = Read16(d + 14);
            if ((flags & Indirect) != 0)
            {
                if (!_indirect || inIndirect || (flags & Next) != 0) throw new ModelRingBroken("indirect descriptor not allowed here");
                if (len == 0 || len % 16 != 0 || len / 16 > Size || addr % 8 != 0 || !Contains(addr, len)) throw new ModelRingBroken("bad indirect table");
                table = addr;
                tableSize = len / 16;
                inIndirect = true;
                seen = 0;
                index = 0;
                continue;
            }
            if (!Contains(addr, len)) error = true;
            if ((flags & Write) != 0) writable.Add((addr, len));
            else if (writable.Count > 0) error = true;
            else readable.Add((addr, len));
            if ((flags & Next) == 0) break;
            if (next >= tableSize) throw new ModelRingBroken($"next {next} outside a table of {tableSize}");
            index = next;
        }
        var chain = new ModelChain(head, readable, writable, error);
        return chain.ReadableLength > uint.MaxValue || chain.WritableLength > uint.MaxValue ? chain with { BufferError = true } : chain;
    }

    /// <summary>Gathers up to <paramref name="count"/> bytes of <paramref name="buffers"/> starting <paramref name="offset"/> bytes in.</summary>
    public byte[] Gather(List<(ulong Address, uint Length)> buffers, ulong offset, int count)
    {
        var result = new List<byte>(count);
        foreach (var (address, length) in buffers)
        {
            if (result.Count == count) break;
            if (offset >= length) { offset -= length; continue; }
            int n = (int)Math.Min((ulong)(count - result.Count), length - offset);
            result.AddRange(Memory.AsSpan(checked((int)(address + offset - Base)), n).ToArray());
            offset = 0;
        }
        return [.. result];
    }

    /// <summary>Scatters <paramref name="data"/> into <paramref name="buffers"/> starting <paramref name="offset"/> bytes in; returns the bytes that fit.</summary>
    public int Scatter(List<(ulong Address, uint Length)> buffers, ulong offset, ReadOnlySpan<byte> data)
    {
        int done = 0;
        foreach (var (address, length) in buffers)
        {
            if (done == data.Length) break;
            if (offset >= length) { offset -= length; continue; }
            int n = (int)Math.Min((ulong)(data.Length - done), length - offset);
            data.Slice(done, n).CopyTo(Memory.AsSpan(checked((int)(address + offset - Base))));
            done += n;
            offset = 0;
        }
        return done;
    }

    public void WriteByte(ulong address, byte value) => Memory[address - Base] = value;

    private Span<byte> At(ulong address, int length)
    {
        if (!Contains(address, (ulong)length)) throw new InvalidOperationException($"model read outside RAM at 0x{address:x}");
        return Memory.AsSpan((int)(address - Base), length);
    }

    private ushort Read16(ulong a) => BinaryPrimitives.ReadUInt16LittleEndian(At(a, 2));

    private uint Read32(ulong a) => BinaryPrimitives.ReadUInt32LittleEndian(At(a, 4));

    private ulong Read64(ulong a) => BinaryPrimitives.ReadUInt64LittleEndian(At(a, 8));

    private void Write16(ulong a, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(At(a, 2), v);

    private void Write32(ulong a, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(At(a, 4), v);
}
