using System.Buffers.Binary;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Virtio;

namespace PluginVmm.Plugins.VirtioNet;

// The receive side, run by the I/O loop (VirtioNetDevice.Loop.cs) a burst at a time: it never blocks; without guest
// buffers it says so (RxOutcome.NeedBuffers) and the loop stops polling the TAP until the driver adds some.
public sealed partial class VirtioNetDevice
{
    // How a receive burst ended: the backend is to be polled before the next (it ran empty, or the burst was one
    // packet), guest buffers ran short (the driver was asked to notify), or the budget ran out with packets perhaps
    // still waiting.
    private enum RxOutcome { Empty, NeedBuffers, Budget }

    // What the receive side keeps between bursts of one activation.
    private sealed class RxState(SplitVirtqueue rx, bool mergeable)
    {
        public readonly SplitVirtqueue Queue = rx;
        public readonly byte[] Packet = new byte[MaxPacket];
        public readonly MergeableRxBuffers? Buffers = mergeable ? new MergeableRxBuffers(rx) : null;
        // The interrupt for a burst's packets is decided once — when the burst ends (the TAP is empty, buffers ran
        // short, the budget ran out) or after RxNotifyBatch.Limit packets — instead of after every packet, as
        // Firecracker and cloud-hypervisor do; with EVENT_IDX one check covers every packet since the last (the
        // used_event test spans the whole range). In L1 each interrupt into L2 is an emulated exit and injection.
        public readonly RxNotifyBatch Notify = new(rx);
        public GuestRange[] Ranges = new GuestRange[QueueSize];
        // Without MRG_RXBUF: a guest buffer taken for a packet that was not there yet.
        public DescriptorChain? Chain;
        // With MRG_RXBUF: a packet read into Packet that waits for guest buffers (0: none).
        public int PendingLength;
        public bool WaitingForBuffers;
    }

    // `backendReady`: the loop saw a packet waiting (or is already waiting for buffers for one). `budget`: packets at
    // most, with MRG_RXBUF (without it a call takes one).
    private RxOutcome Receive(VirtioActivation active, RxState state, int budget, bool backendReady)
    {
        try
        {
            return state.Buffers is null
                ? ReceiveSingle(active.Memory, state, backendReady)
                : ReceiveMergeable(active.Memory, state, state.Buffers, budget);
        }
        finally
        {
            state.Notify.Flush();
        }
    }

    // Without MRG_RXBUF: one chain per packet, num_buffers 1, and one packet per call. A chain is taken only for a
    // packet known to wait (as QEMU does, which reads before it takes), so after each packet the loop polls the
    // backend again (Empty): a guest that posts buffers as it goes is not asked for notifications it need not send,
    // and a broken chain fails the device only when a packet needs it. Linux negotiates MRG_RXBUF, so this path is
    // not the fast one.
    private RxOutcome ReceiveSingle(IGuestMemory memory, RxState state, bool backendReady)
    {
        if (state.Chain is null)
        {
            if (!backendReady) return RxOutcome.Empty;
            if (!TryTakeBuffer(state, out var taken)) return RxOutcome.NeedBuffers;
            state.Chain = taken;
        }
        var chain = state.Chain;
        uint written;
        if (chain.Error is null && chain.WritableLength >= MaxPacket)
        {
            // Any packet fits (Linux posts 64 KiB+ "big packet" chains when it takes TSO): the backend
            // reads it straight into the guest buffers (readv), with no copy through our buffer.
            var writable = WritableRanges(chain, ref state.Ranges);
            int length = _backend!.Read(memory, writable);
            if (length <= 0) return RxOutcome.Empty;   // the chain stays held for the next packet
            // the TAP reports a frame's full length even when it cut it to the buffers: such a frame is dropped
            written = (ulong)length <= chain.WritableLength ? Received(memory, chain, length, default) : Dropped();
        }
        else
        {
            int length = _backend!.Read(state.Packet);
            if (length <= 0) return RxOutcome.Empty;
            written = length <= state.Packet.Length ? Received(memory, chain, length, state.Packet.AsSpan(0, length)) : Dropped();
        }
        state.Queue.AddUsed(chain.Head, written);
        state.Notify.Added();
        state.Chain = null;
        return RxOutcome.Empty;
    }

    // With MRG_RXBUF: chains are taken ahead until they hold the largest packet, so the backend reads each packet
    // straight into them (readv); only when the guest has posted less than that does a packet go through our buffer,
    // waiting there for buffers if it does not fit yet (as QEMU does; it is not dropped). A packet shorter than the
    // header or cut by the backend is dropped and uses no chain.
    private RxOutcome ReceiveMergeable(IGuestMemory memory, RxState state, MergeableRxBuffers buffers, int budget)
    {
        Span<byte> gsoType = stackalloc byte[1];
        for (int n = 0; n < budget; n++)
        {
            int length;
            bool gso;
            if (state.PendingLength > 0)
            {
                length = state.PendingLength;
                if (!HaveBuffers(state, buffers, (ulong)length)) return RxOutcome.NeedBuffers;
                gso = state.Packet[1] != 0;
                _rxMerged += buffers.CopyIn(memory, state.Packet.AsSpan(0, length));
                state.PendingLength = 0;
                Counted(length, gso, state);
                continue;
            }
            // Timed for 1 packet in TimingSample and scaled: a clock read per packet measurably slowed this loop.
            bool timed = (_rxPackets & (TimingSample - 1)) == 0;
            long start = timed ? Stopwatch.GetTimestamp() : 0;
            buffers.Fill(MaxPacket);
            if (buffers.Capacity >= MaxPacket)
            {
                var ranges = buffers.Ranges(MaxPacket);
                long readStart = timed ? Stopwatch.GetTimestamp() : 0;
                length = _backend!.Read(memory, ranges);
                if (timed) _rxReadTicks += (Stopwatch.GetTimestamp() - readStart) * TimingSample;
                if (length <= 0) return RxOutcome.Empty;
                if (length < TapBackend.VnetHeaderSize || length > MaxPacket)
                {
                    Dropped();
                    continue;
                }
                gso = ReadWritable(memory, buffers.First, 1, gsoType) && gsoType[0] != 0;   // virtio_net_hdr.gso_type
                _rxMerged += buffers.Commit(memory, length);
            }
            else
            {
                length = _backend!.Read(state.Packet);
                if (length <= 0) return RxOutcome.Empty;
                if (length < TapBackend.VnetHeaderSize || length > state.Packet.Length)
                {
                    Dropped();
                    continue;
                }
                if (buffers.Capacity < (ulong)length)
                {
                    // short of buffers: the packet waits in our buffer (the next turn of this loop waits with it)
                    state.PendingLength = length;
                    continue;
                }
                gso = state.Packet[1] != 0;
                _rxMerged += buffers.CopyIn(memory, state.Packet.AsSpan(0, length));
            }
            Counted(length, gso, state);
            if (timed) _rxBusyTicks += (Stopwatch.GetTimestamp() - start) * TimingSample;
        }
        return RxOutcome.Budget;
    }

    private void Counted(int length, bool gso, RxState state)
    {
        _rxPackets++;
        _rxBytes += length;
        if (gso) _rxGso++;
        state.Notify.Added();
    }

    // Packets put in the used ring since the interrupt was last decided; Added decides it every Limit packets (a TAP
    // that never runs empty must not keep the guest waiting for a whole ring), Flush when a burst ends.
    private sealed class RxNotifyBatch(SplitVirtqueue rx)
    {
        public const int Limit = 8;
        private int _pending;

        public void Added()
        {
            if (++_pending >= Limit) Flush();
        }

        public void Flush()
        {
            if (_pending == 0) return;
            _pending = 0;
            rx.NotifyIfNeeded();
        }
    }

    // True when the chains held add up to `length` bytes; otherwise the driver has been asked to notify at its next
    // addition (and had not added one by the time it was asked).
    private bool HaveBuffers(RxState state, MergeableRxBuffers buffers, ulong length)
    {
        buffers.Fill(length);
        if (buffers.Capacity < length)
        {
            state.Queue.SetNotification(true);
            buffers.Fill(length);   // the driver may have added some before it could see the request
        }
        return Waited(state, buffers.Capacity >= length);
    }

    // Takes a guest buffer, or asks the driver to notify at its next addition (false).
    private bool TryTakeBuffer(RxState state, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out DescriptorChain? chain)
    {
        chain = null;
        if (!state.Queue.TryPop(out var taken))
        {
            state.Queue.SetNotification(true);
            if (!state.Queue.TryPop(out taken)) return Waited(state, false);
        }
        chain = taken;
        return Waited(state, true);
    }

    // Records whether the receive side now waits for guest buffers (a wait counted once, however many looks it takes).
    private bool Waited(RxState state, bool have)
    {
        if (!have && !state.WaitingForBuffers) _rxBufferWaits++;
        state.WaitingForBuffers = !have;
        return have;
    }

    // Finishes a packet of `length` bytes for `chain`: either already in the guest buffers (`copy` empty) or to be
    // copied from `copy`. Sets num_buffers to 1 (the packet is in this one chain); returns the used length, 0 for a
    // packet dropped (too short for the header, or larger than the chain).
    private uint Received(IGuestMemory memory, DescriptorChain chain, int length, Span<byte> copy)
    {
        bool inGuest = copy.IsEmpty;
        if (length < TapBackend.VnetHeaderSize || (!inGuest && (chain.Error is not null || chain.WritableLength < (ulong)length)))
        {
            Interlocked.Increment(ref _rxDropped);
            return 0;
        }
        Span<byte> numBuffers = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(numBuffers, 1);
        if (inGuest)
        {
            chain.Write(memory, 10, numBuffers);
        }
        else
        {
            numBuffers.CopyTo(copy[10..]);
            chain.Write(memory, 0, copy);
        }
        _rxPackets++;
        _rxBytes += length;
        Span<byte> gsoType = stackalloc byte[1];
        if (inGuest ? ReadWritable(memory, chain, 1, gsoType) && gsoType[0] != 0 : copy[1] != 0) _rxGso++;
        return (uint)length;
    }

    private uint Dropped()
    {
        Interlocked.Increment(ref _rxDropped);
        return 0;
    }

    private static bool ReadWritable(IGuestMemory memory, DescriptorChain chain, ulong offset, Span<byte> destination)
    {
        int done = 0;
        foreach (var (address, length) in DescriptorChain.Pieces(chain.Writable, offset, destination.Length))
        {
            memory.Read(address, destination.Slice(done, length));
            done += length;
        }
        return done == destination.Length;
    }

    // The chain's writable buffers as guest ranges (checked to be in RAM; the total fits a uint, each up to MaxPacket
    // is needed, so a range is cut there and fits an int).
    private static ReadOnlySpan<GuestRange> WritableRanges(DescriptorChain chain, ref GuestRange[] ranges)
    {
        var writable = chain.Writable;
        if (ranges.Length < writable.Count) ranges = new GuestRange[writable.Count];
        int count = 0;
        long left = MaxPacket;
        foreach (var b in writable)
        {
            if (left == 0) break;
            int n = (int)Math.Min(b.Length, left);
            ranges[count++] = new GuestRange(b.Address, n);
            left -= n;
        }
        return ranges.AsSpan(0, count);
    }

    // This thread's CPU time so far (utime + stime of /proc/thread-self/stat, 100 Hz ticks): with the busy time it
    // tells work from waiting for the CPU (the I/O thread shares L1's CPUs with the traffic's sender).
    private static long ThreadCpuMs()
    {
        try
        {
            var stat = File.ReadAllText("/proc/thread-self/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11]) + long.Parse(fields[12])) * 10;
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException or UnauthorizedAccessException)
        {
            return 0;   // a diagnostic only
        }
    }
}
