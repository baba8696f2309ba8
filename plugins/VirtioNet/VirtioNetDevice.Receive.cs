using System.Buffers.Binary;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Virtio;

namespace PluginVmm.Plugins.VirtioNet;

// The receive side: a thread of its own per activation waits for packets from the backend and for guest buffers.
public sealed partial class VirtioNetDevice
{
    private void RxLoop(VirtioActivation active, SplitVirtqueue rx)
    {
        try
        {
            if ((active.Features & FeatureMrgRxbuf) != 0) ReceiveMergeable(active.Memory, rx);
            else ReceiveSingle(active.Memory, rx);
        }
        catch (VirtqueueException e)
        {
            active.Fail(e.Message);
        }
        catch (Exception e) when (!_stopping)
        {
            _logger.LogWarning(e, "virtio-net: receive stopped");
            active.Fail($"receive failed: {e.Message}");
        }
        catch (Exception)
        {
            // Reset under way: the backend or the queue went away.
        }
    }

    // Without MRG_RXBUF: one chain per packet, num_buffers 1.
    private void ReceiveSingle(IGuestMemory memory, SplitVirtqueue rx)
    {
        var packet = new byte[MaxPacket];
        var ranges = new GuestRange[QueueSize];
        DescriptorChain? chain = null;   // a guest buffer taken for a packet that turned out not to be there yet
        while (!_stopping)
        {
            if (!_backend!.WaitReadable(100)) continue;
            if (chain is null && !TryTakeBuffer(rx, out chain)) return;
            uint written;
            if (chain.Error is null && chain.WritableLength >= MaxPacket)
            {
                // Any packet fits (Linux posts 64 KiB+ "big packet" chains when it takes TSO): the backend
                // reads it straight into the guest buffers (readv), with no copy through our buffer.
                var writable = WritableRanges(chain, ref ranges);
                int length = _backend.Read(memory, writable);
                if (length <= 0) continue;
                // the TAP reports a frame's full length even when it cut it to the buffers: such a frame is dropped
                written = (ulong)length <= chain.WritableLength ? Received(memory, chain, length, default) : Dropped();
            }
            else
            {
                int length = _backend.Read(packet);
                if (length <= 0) continue;
                written = length <= packet.Length ? Received(memory, chain, length, packet.AsSpan(0, length)) : Dropped();
            }
            rx.AddUsed(chain.Head, written);
            rx.NotifyIfNeeded();
            chain = null;
        }
    }

    // With MRG_RXBUF: chains are taken ahead until they hold the largest packet, so the backend reads each packet
    // straight into them (readv); only when the guest has posted less than that does a packet go through our buffer,
    // waiting for buffers if it does not fit yet (as QEMU does; it is not dropped). A packet shorter than the header
    // or cut by the backend is dropped and uses no chain.
    private void ReceiveMergeable(IGuestMemory memory, SplitVirtqueue rx)
    {
        var packet = new byte[MaxPacket];
        var buffers = new MergeableRxBuffers(rx);
        // After a packet the next read comes straight away; only a read that finds nothing (0, or -1 from a
        // non-blocking TAP) leads to a poll. A burst costs one poll instead of one per packet, as QEMU's tap reader.
        bool poll = true;
        // The interrupt for a burst's packets is decided once — when the burst ends (the TAP is empty), before the
        // device waits for guest buffers, or after RxNotifyBatch.Limit packets — instead of after every packet, as
        // Firecracker and cloud-hypervisor do; with EVENT_IDX one check covers every packet since the last (the
        // used_event test spans the whole range). In L1 each interrupt into L2 is an emulated exit and injection.
        var notify = new RxNotifyBatch(rx);
        Span<byte> gsoType = stackalloc byte[1];
        try
        {
            while (!_stopping)
            {
                if (poll)
                {
                    notify.Flush();
                    if (!_backend!.WaitReadable(100)) continue;
                }
                poll = false;
                // Timed for 1 packet in TimingSample and scaled: a clock read per packet measurably slowed this loop.
                bool timed = (_rxPackets & (TimingSample - 1)) == 0;
                long start = timed ? Stopwatch.GetTimestamp() : 0;
                buffers.Fill(MaxPacket);
                int length;
                bool gso;
                if (buffers.Capacity >= MaxPacket)
                {
                    var ranges = buffers.Ranges(MaxPacket);
                    long readStart = timed ? Stopwatch.GetTimestamp() : 0;
                    length = _backend!.Read(memory, ranges);
                    if (timed) _rxReadTicks += (Stopwatch.GetTimestamp() - readStart) * TimingSample;
                    if (length <= 0)
                    {
                        poll = true;
                        continue;
                    }
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
                    length = _backend!.Read(packet);
                    if (length <= 0)
                    {
                        poll = true;
                        continue;
                    }
                    if (length < TapBackend.VnetHeaderSize || length > packet.Length)
                    {
                        Dropped();
                        continue;
                    }
                    // short of buffers: the guest must see the packets it has before the device waits for more
                    if (buffers.Capacity < (ulong)length) notify.Flush();
                    if (!WaitForBuffers(rx, buffers, (ulong)length)) return;
                    gso = packet[1] != 0;
                    _rxMerged += buffers.CopyIn(memory, packet.AsSpan(0, length));
                }
                _rxPackets++;
                _rxBytes += length;
                if (gso) _rxGso++;
                notify.Added();
                if (timed) _rxBusyTicks += (Stopwatch.GetTimestamp() - start) * TimingSample;
            }
        }
        finally
        {
            _rxUnusable += buffers.Unusable;
            _rxCpuMs += ThreadCpuMs();
        }
    }

    // Packets put in the used ring since the interrupt was last decided; Added decides it every Limit packets (a TAP
    // that never runs empty must not keep the guest waiting for a whole ring), Flush when the device is about to wait.
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

    // Waits until the chains held add up to `length` bytes; false when stopping.
    private bool WaitForBuffers(SplitVirtqueue rx, MergeableRxBuffers buffers, ulong length)
    {
        while (true)
        {
            if (_stopping) return false;
            buffers.Fill(length);
            if (buffers.Capacity >= length) return true;
            WaitForGuest(rx);
        }
    }

    // Asks the driver to notify at its next addition and sleeps until it does (or 100 ms pass), unless it added one
    // in the meantime.
    private void WaitForGuest(SplitVirtqueue rx)
    {
        rx.SetNotification(true);
        if (rx.HasAvailable) return;
        _rxBufferWaits++;
        _rxBuffers.WaitOne(100);
    }

    // Waits for a guest buffer; false when stopping.
    private bool TryTakeBuffer(SplitVirtqueue rx, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out DescriptorChain? chain)
    {
        while (true)
        {
            chain = null;
            if (_stopping) return false;
            if (rx.TryPop(out var taken))
            {
                chain = taken;
                return true;
            }
            WaitForGuest(rx);
        }
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
    // tells work from waiting for the CPU (the receive thread shares L1's CPUs with the traffic's sender).
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
