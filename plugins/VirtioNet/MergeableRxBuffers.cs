using System.Buffers.Binary;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Virtio;

namespace PluginVmm.Plugins.VirtioNet;

/// <summary>
/// Receive buffers taken from the RX queue ahead of the packets that will fill them, for VIRTIO_NET_F_MRG_RXBUF
/// (virtio 1.2 §5.1.6.4): one packet spreads over as many chains as it needs, and the header in the first chain
/// says how many (num_buffers). Linux then posts page-sized buffers instead of 64 KiB+ "big packet" chains, so an
/// ACK costs the guest one small buffer rather than seventeen pages.
/// <para>
/// Chains are held in the order they were taken and handed back in that order, each with the bytes it holds. A chain
/// the device cannot use (a buffer outside guest RAM, or less writable space than the 12-byte header, which the spec
/// forbids) goes back at once with length 0, which Linux counts as a length error and recycles. Chains are held
/// across packets, so a packet read straight into them (one <c>readv</c>) needs no copy; a driver reset discards them
/// together with the queue.
/// </para>
/// Not thread-safe: the receive thread is its only user.
/// </summary>
internal sealed class MergeableRxBuffers(SplitVirtqueue queue)
{
    // A chain held, and how many of the flattened ranges are its writable buffers.
    private readonly record struct Held(DescriptorChain Chain, int RangeCount);

    private readonly List<Held> _held = [];
    // The held chains' non-empty writable buffers in order, flattened once when a chain is taken: Ranges runs for every
    // packet over every chain held (~17 of them with page-sized buffers), and walking each chain's list there cost an
    // enumerator and interface calls per chain per packet. A buffer is cut to int.MaxValue bytes (a range is an int
    // long): a packet needs at most MaxPacket of them, and a chain's share of a packet is counted from its WritableLength.
    private GuestRange[] _flat = new GuestRange[64];
    private int _flatCount;
    private GuestRange[] _ranges = new GuestRange[64];
    private UsedElement[] _used = new UsedElement[32];

    /// <summary>Writable bytes in the chains held.</summary>
    public ulong Capacity { get; private set; }

    /// <summary>The oldest chain held: the next packet's header goes there (call only when <see cref="Capacity"/> is not 0).</summary>
    public DescriptorChain First => _held[0].Chain;

    /// <summary>Chains returned unused because they could not hold a header or were outside guest RAM.</summary>
    public long Unusable { get; private set; }

    /// <summary>
    /// Takes chains until <paramref name="want"/> bytes are held or the ring is empty (then, as any empty
    /// <see cref="SplitVirtqueue.TryPop"/>, the driver is asked to notify at its next addition).
    /// </summary>
    public void Fill(ulong want)
    {
        while (Capacity < want && queue.TryPop(out var chain))
        {
            if (chain.Error is not null || chain.WritableLength < TapBackend.VnetHeaderSize)
            {
                Unusable++;
                queue.AddUsed(chain.Head, 0);
                continue;
            }
            var writable = chain.Writable;
            if (_flat.Length < _flatCount + writable.Count)
            {
                Array.Resize(ref _flat, Math.Max(_flatCount + writable.Count, _flat.Length * 2));
                _ranges = new GuestRange[_flat.Length];
            }
            int added = 0;
            for (int i = 0; i < writable.Count; i++)
            {
                var b = writable[i];
                if (b.Length == 0) continue;
                _flat[_flatCount + added++] = new GuestRange(b.Address, (int)Math.Min(b.Length, int.MaxValue));
            }
            _flatCount += added;
            _held.Add(new Held(chain, added));
            Capacity += chain.WritableLength;
        }
    }

    /// <summary>
    /// The held chains' writable buffers, in order, as guest ranges of <paramref name="limit"/> bytes in all at most
    /// (empty buffers left out). Valid until the next call.
    /// </summary>
    public ReadOnlySpan<GuestRange> Ranges(int limit)
    {
        int count = 0;
        long left = limit;
        while (count < _flatCount && left > 0)
        {
            var r = _flat[count];
            if (r.Length > left) r = new GuestRange(r.Address, (int)left);
            _ranges[count++] = r;
            left -= r.Length;
        }
        return _ranges.AsSpan(0, count);
    }

    /// <summary>
    /// Copies <paramref name="packet"/> (header + frame, at most <see cref="Capacity"/> bytes) into the held chains and
    /// hands back those it fills (<see cref="Commit"/>).
    /// </summary>
    public int CopyIn(IGuestMemory memory, ReadOnlySpan<byte> packet)
    {
        int done = 0;
        foreach (var held in _held)
        {
            if (done == packet.Length) break;
            done += held.Chain.Write(memory, 0, packet[done..]);
        }
        return Commit(memory, packet.Length);
    }

    /// <summary>
    /// Hands back the first chains, which hold a packet of <paramref name="length"/> bytes (at least the header, at most
    /// <see cref="Capacity"/>): sets num_buffers in the first chain's header to their count and returns each with the
    /// bytes it holds, in one used-ring update. The caller notifies the driver. Returns the count.
    /// </summary>
    public int Commit(IGuestMemory memory, int length)
    {
        if (length < TapBackend.VnetHeaderSize || (ulong)length > Capacity)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"a packet must hold the header and fit the {Capacity} bytes held");
        int used = 0;
        for (ulong left = (ulong)length; left > 0; used++) left -= Math.Min(left, _held[used].Chain.WritableLength);
        Span<byte> numBuffers = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(numBuffers, (ushort)used);
        _held[0].Chain.Write(memory, 10, numBuffers);   // virtio_net_hdr_mrg_rxbuf.num_buffers; the first chain holds the header
        if (_used.Length < used) _used = new UsedElement[Math.Max(used, _used.Length * 2)];
        ulong rest = (ulong)length;
        int ranges = 0;
        for (int i = 0; i < used; i++)
        {
            var chain = _held[i].Chain;
            ulong share = Math.Min(rest, chain.WritableLength);
            _used[i] = new UsedElement(chain.Head, (uint)share);
            rest -= share;
            Capacity -= chain.WritableLength;
            ranges += _held[i].RangeCount;
        }
        // All of a packet's chains are published by one used-index update: a driver that saw the first without the
        // rest would drop the packet (and misread the rest as packets of their own).
        queue.AddUsed(_used.AsSpan(0, used));
        _held.RemoveRange(0, used);
        Array.Copy(_flat, ranges, _flat, 0, _flatCount - ranges);
        _flatCount -= ranges;
        return used;
    }
}
