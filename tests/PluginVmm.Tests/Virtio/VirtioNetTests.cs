using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using PluginVmm.Core.Memory;
using PluginVmm.Plugins.VirtioNet;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Testing;
using PluginVmm.Sdk.Virtio;
using Xunit;

namespace PluginVmm.Tests.Virtio;

/// <summary>A backend that records what the guest sends and hands the guest queued packets.</summary>
internal sealed class FakeNetBackend : INetBackend
{
    public readonly ConcurrentQueue<byte[]> Sent = new();
    public readonly BlockingCollection<byte[]> ToGuest = new();
    public uint Offload = 0xFFFF;
    /// <summary>Reset: the device sees nothing readable (packets queued meanwhile arrive as one burst once set).</summary>
    public readonly ManualResetEventSlim Open = new(true);
    private byte[]? _next;

    public void Write(ReadOnlySpan<byte> packet) => Sent.Enqueue(packet.ToArray());

    /// <summary>Set: the backend's queue is full, every frame offered is refused (counted in <see cref="Refused"/>).</summary>
    public volatile bool Full;
    public int Refused, WritableWaits;

    public bool TryWrite(IGuestMemory memory, ReadOnlySpan<GuestRange> packet)
    {
        if (Full)
        {
            Interlocked.Increment(ref Refused);
            return false;
        }
        PacketGather.CopyThenWrite(memory, packet, Write);
        return true;
    }

    public bool WaitWritable(int timeoutMs)
    {
        Interlocked.Increment(ref WritableWaits);
        if (Full) Thread.Sleep(Math.Min(timeoutMs, 1));
        return !Full;
    }

    public bool WaitReadable(int timeoutMs) => Open.Wait(timeoutMs) && (_next is not null || ToGuest.TryTake(out _next, timeoutMs));

    public int Read(Span<byte> buffer)
    {
        if (_next is null && !ToGuest.TryTake(out _next)) return 0;
        _next.CopyTo(buffer);
        int n = _next.Length;
        _next = null;
        return n;
    }

    public void SetOffload(uint tunFlags) => Offload = tunFlags;

    public void Dispose()
    {
        ToGuest.Dispose();
        Open.Dispose();
    }
}

/// <summary>A fact that needs root and /dev/net/tun (it creates a TAP interface); skipped, saying why, otherwise.</summary>
public sealed class TapFactAttribute : FactAttribute
{
    public TapFactAttribute()
    {
        if (!File.Exists("/dev/net/tun")) Skip = "no /dev/net/tun";
        else if (Environment.UserName != "root") Skip = "creating a TAP interface needs root (CAP_NET_ADMIN)";
        else if (!File.Exists("/usr/sbin/ip") && !File.Exists("/sbin/ip") && !File.Exists("/usr/bin/ip")) Skip = "no `ip` command to configure the TAP";
    }
}

public sealed class VirtioNetTests : IDisposable
{
    private static readonly byte[] GuestMac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
    private const ulong TxBuffer = 0x80000;
    private const ulong Single = ulong.MaxValue & ~VirtioNetDevice.FeatureMrgRxbuf;   // one chain per packet

    // Small RX buffers (copy path) at 0x40000 by default; UseVmmMemory switches to the VMM's guest RAM and buffers
    // that hold the largest packet (straight readv path).
    private IGuestMemory _memory = new InMemoryGuestMemory(0x100000);
    private ulong _rxBufferBase = 0x40000;
    private int _rxBufferSize = 2048;
    private int _rxCount = 16;
    private ushort _rxQueueSize = 16;
    private VirtioPciTransport? _transport;
    private TestDeviceContext? _context;
    private VirtioPciDriver _driver = null!;
    private GuestVirtqueue _rx = null!, _tx = null!;
    private readonly Dictionary<ushort, ulong> _rxHeads = [];

    public void Dispose()
    {
        _transport?.Dispose();
        (_memory as IDisposable)?.Dispose();
    }

    private void UseVmmMemory()
    {
        _memory = GuestMemory.Create(4 << 20);
        _rxBufferBase = 0x100000;
        _rxBufferSize = 70000;
    }

    private VirtioNetDevice Start(INetBackend? backend, ulong features = ulong.MaxValue)
    {
        var context = _context = new TestDeviceContext(_memory) { Name = "vnet0" };
        var device = new VirtioNetDevice(backend, GuestMac, NullLogger.Instance);
        _transport = new VirtioPciTransport(device, context, 0x02, 0x00);
        _driver = new VirtioPciDriver(_transport, _memory, context.FakeResources);
        Assert.True(_driver.Negotiate(features));
        _driver.EnableMsix();
        _rx = _driver.SetupQueue(0, _rxQueueSize, 0x1000, 1).Queue;
        _tx = _driver.SetupQueue(1, 16, 0x2000, 2).Queue;
        _driver.DriverOk();
        for (int i = 0; i < _rxCount; i++) PostRx(_rxBufferBase + (ulong)(i * _rxBufferSize));
        _driver.Kick(0);
        return device;
    }

    private void PostRx(ulong address)
    {
        ushort head = _rx.Submit(new GuestBuffer(address, (uint)_rxBufferSize, true));
        _rxHeads[head] = address;
    }

    private void Send(ReadOnlySpan<byte> packet)
    {
        _memory.Write(TxBuffer, packet);
        // Header and frame in separate descriptors, as Linux does without ANY_LAYOUT tricks.
        _tx.Submit(new GuestBuffer(TxBuffer, 12, false), new GuestBuffer(TxBuffer + 12, (uint)packet.Length - 12, false));
        _driver.Kick(1);
        _tx.WaitUsed(TimeSpan.FromSeconds(10));
    }

    // Takes received packets until one satisfies match; reposts every buffer taken.
    private byte[] Receive(Func<byte[], bool> match)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            if (!_rx.TryGetUsed(out var head, out var length))
            {
                Thread.Sleep(2);
                continue;
            }
            ulong address = _rxHeads[head];
            var packet = _memory.GetSpan(address, (int)length).ToArray();
            PostRx(address);
            _driver.Kick(0);
            if (match(packet)) return packet;
        }
        throw new TimeoutException("no matching packet reached the guest");
    }

    [Fact]
    public void Config_space_has_mac_link_status_and_one_queue_pair()
    {
        using var backend = new FakeNetBackend();
        Start(backend);
        Assert.Equal(GuestMac, _driver.ReadDeviceConfigBytes(0, 6));
        Assert.Equal(1UL, _driver.ReadDeviceConfig(6, 2));     // VIRTIO_NET_S_LINK_UP
        Assert.Equal(1UL, _driver.ReadDeviceConfig(8, 2));     // max_virtqueue_pairs
        ulong f = _driver.DeviceFeatures();
        foreach (int bit in new[] { 0, 1, 5, 7, 8, 11, 12, 15, 16, 32 }) Assert.True((f >> bit & 1) != 0, $"feature bit {bit}");
    }

    [Fact]
    public void Mergeable_receive_buffers_are_offered_unless_turned_off()
    {
        using var backend = new FakeNetBackend();
        Assert.NotEqual(0UL, new VirtioNetDevice(backend, GuestMac, NullLogger.Instance).DeviceFeatures & VirtioNetDevice.FeatureMrgRxbuf);
        Assert.Equal(0UL, new VirtioNetDevice(backend, GuestMac, NullLogger.Instance, mergeableRx: false).DeviceFeatures & VirtioNetDevice.FeatureMrgRxbuf);
    }

    [Fact]
    public void Without_a_backend_the_link_is_down()
    {
        Start(null);
        Assert.Equal(0UL, _driver.ReadDeviceConfig(6, 2));
    }

    [Fact]
    public void Guest_receive_offloads_become_tun_offload_flags()
    {
        Assert.Equal(0u, VirtioNetDevice.TunOffloads(VirtioNetDevice.FeatureGuestTso4));   // TSO without CSUM is not allowed
        Assert.Equal(0x01u, VirtioNetDevice.TunOffloads(VirtioNetDevice.FeatureGuestCsum));
        Assert.Equal(0x0Fu, VirtioNetDevice.TunOffloads(VirtioNetDevice.FeatureGuestCsum | VirtioNetDevice.FeatureGuestTso4
            | VirtioNetDevice.FeatureGuestTso6 | VirtioNetDevice.FeatureGuestEcn));
        using var backend = new FakeNetBackend();
        Start(backend, VirtioFeatures.Version1 | VirtioNetDevice.FeatureGuestCsum);
        Assert.Equal(0x01u, backend.Offload);
        _driver.Status = 0;
        Assert.Equal(0u, backend.Offload);
    }

    [Fact]
    public void Transmitted_chain_reaches_the_backend_unchanged_and_bad_chains_are_dropped()
    {
        using var backend = new FakeNetBackend();
        var device = Start(backend);
        var packet = new byte[12 + 60];
        new Random(5).NextBytes(packet);
        Send(packet);
        Assert.True(backend.Sent.TryDequeue(out var sent));
        Assert.Equal(packet, sent);
        _tx.Submit(new GuestBuffer(TxBuffer, 8, false));                    // shorter than the header
        _tx.Submit(new GuestBuffer(0x1_0000_0000, 100, false));            // outside RAM
        _driver.Kick(1, forceMmio: true);
        _tx.WaitUsed(TimeSpan.FromSeconds(10));
        _tx.WaitUsed(TimeSpan.FromSeconds(10));
        Assert.Equal(2, device.TxDropped);
        Assert.Empty(backend.Sent);
        Assert.Equal(0, _driver.Status & VirtioStatus.DeviceNeedsReset);
    }

    [Fact]
    public void Frames_the_backend_refuses_wait_for_room_in_order_and_none_is_lost_or_completed_early()
    {
        // A TAP whose send buffer is full answers EAGAIN: the frame is held (not returned to the guest, not dropped)
        // and sent, before the ones queued behind it, once the backend has room.
        using var backend = new FakeNetBackend { Full = true };
        var device = Start(backend);
        var packets = Enumerable.Range(0, 5).Select(i => RandomPacket(60 + 100 * i)).ToArray();
        ulong address = TxBuffer;
        foreach (var p in packets)
        {
            _memory.Write(address, p);
            _tx.Submit(new GuestBuffer(address, 12, false), new GuestBuffer(address + 12, (uint)p.Length - 12, false));
            address += 0x800;
        }
        _driver.Kick(1);
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref backend.WritableWaits) >= 3, TimeSpan.FromSeconds(10)),
            "the device did not wait for room after the backend refused a frame");
        Assert.Equal(1, backend.Refused);   // offered once, then held: no retry until there is room
        Assert.Equal(0, _tx.UsedIndex);   // nothing completed while the first frame is held
        Assert.Empty(backend.Sent);
        backend.Full = false;
        for (int i = 0; i < packets.Length; i++) _tx.WaitUsed(TimeSpan.FromSeconds(10));
        Assert.Equal(packets.Length, backend.Sent.Count);
        foreach (var p in packets)
        {
            Assert.True(backend.Sent.TryDequeue(out var sent));
            Assert.Equal(p, sent);
        }
        Assert.Equal(0, device.TxDropped);
        // The loop serves doorbells again afterwards.
        var next = RandomPacket(80);
        Send(next);
        Assert.True(backend.Sent.TryDequeue(out var last));
        Assert.Equal(next, last);
    }

    [Fact]
    public void A_frame_refused_on_an_mmio_doorbell_is_sent_by_the_io_loop_once_there_is_room()
    {
        // The doorbell without an ioeventfd transmits on the caller's thread; a refusal there hands the held frame
        // to the I/O loop, which waits for room.
        using var backend = new FakeNetBackend { Full = true };
        var device = Start(backend);
        var packet = RandomPacket(200);
        _memory.Write(TxBuffer, packet);
        _tx.Submit(new GuestBuffer(TxBuffer, 12, false), new GuestBuffer(TxBuffer + 12, (uint)packet.Length - 12, false));
        _driver.Kick(1, forceMmio: true);
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref backend.WritableWaits) >= 3, TimeSpan.FromSeconds(10)),
            "the I/O loop did not wait for room for the frame refused on the doorbell");
        Assert.Equal(0, _tx.UsedIndex);
        backend.Full = false;
        _tx.WaitUsed(TimeSpan.FromSeconds(10));
        Assert.True(backend.Sent.TryDequeue(out var sent));
        Assert.Equal(packet, sent);
        Assert.Equal(0, device.TxDropped);
    }

    [Fact]
    public void Frames_of_different_sizes_across_doorbells_reach_the_backend_exactly()
    {
        // The TX frame buffer is reused across doorbells: a short frame after a long one must carry none of the
        // long frame's bytes, and a long one after a short one all of its own.
        using var backend = new FakeNetBackend();
        Start(backend);
        var random = new Random(7);
        foreach (int size in new[] { 1500, 60, 9000, 14, 1514 })
        {
            var packet = new byte[12 + size];
            random.NextBytes(packet);
            packet[1] = 0;   // gso_type NONE
            Send(packet);
            Assert.True(backend.Sent.TryDequeue(out var sent));
            Assert.Equal(packet, sent);
        }
        Assert.Empty(backend.Sent);
    }

    [Fact]
    public void Received_packet_lands_in_a_guest_buffer_with_num_buffers_one_and_oversize_is_dropped()
    {
        using var backend = new FakeNetBackend();
        var device = Start(backend, Single);
        var packet = new byte[12 + 100];
        new Random(9).NextBytes(packet);
        backend.ToGuest.Add(packet);
        var got = Receive(_ => true);
        Assert.Equal(112, got.Length);
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(got.AsSpan(10)));
        Assert.Equal(packet[..10], got[..10]);
        Assert.Equal(packet[12..], got[12..]);
        backend.ToGuest.Add(new byte[_rxBufferSize + 1]);
        var dropped = Receive(_ => true);
        Assert.Empty(dropped);
        Assert.Equal(1, device.RxDropped);
    }

    [Fact]
    public void Receive_waits_for_guest_buffers_when_the_ring_is_empty() => ReceiveWaitsForBuffers(Single);

    [Fact]
    public void Mergeable_receive_waits_for_guest_buffers_when_the_ring_is_empty() => ReceiveWaitsForBuffers(ulong.MaxValue);

    private void ReceiveWaitsForBuffers(ulong features)
    {
        using var backend = new FakeNetBackend();
        var context = new TestDeviceContext(_memory);
        _transport = new VirtioPciTransport(new VirtioNetDevice(backend, GuestMac, NullLogger.Instance), context, 0x02, 0);
        _driver = new VirtioPciDriver(_transport, _memory, context.FakeResources);
        Assert.True(_driver.Negotiate(features));
        _rx = _driver.SetupQueue(0, 16, 0x1000, 0).Queue;
        _tx = _driver.SetupQueue(1, 16, 0x2000, 0).Queue;
        _driver.DriverOk();
        backend.ToGuest.Add(new byte[12 + 64]);
        // No buffers yet: nothing can be delivered. Post one and kick.
        Assert.False(_rx.TryGetUsed(out _, out _));
        PostRx(_rxBufferBase);
        _driver.Kick(0);
        Assert.Equal(76, Receive(_ => true).Length);
    }

    // ---- a real TAP interface ----

    private static void Ip(string args)
    {
        var psi = new ProcessStartInfo("ip", args) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"ip {args}: {err}");
    }

    private static ushort IpChecksum(ReadOnlySpan<byte> header)
    {
        uint sum = 0;
        for (int i = 0; i < header.Length; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(header[i..]);
        while (sum > 0xFFFF) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    private static byte[] UdpFrame(byte[] dstMac, byte[] srcMac, IPAddress src, IPAddress dst, ushort srcPort, ushort dstPort, byte[] payload)
    {
        var f = new byte[12 + 14 + 20 + 8 + payload.Length];
        var eth = f.AsSpan(12);
        dstMac.CopyTo(eth);
        srcMac.CopyTo(eth[6..]);
        BinaryPrimitives.WriteUInt16BigEndian(eth[12..], 0x0800);
        var ip = eth[14..];
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + 8 + payload.Length));
        ip[8] = 64;
        ip[9] = 17;
        src.GetAddressBytes().CopyTo(ip[12..]);
        dst.GetAddressBytes().CopyTo(ip[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], IpChecksum(ip[..20]));
        var udp = ip[20..];
        BinaryPrimitives.WriteUInt16BigEndian(udp, srcPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], dstPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], (ushort)(8 + payload.Length));
        payload.CopyTo(udp[8..]);   // checksum 0: none (IPv4)
        return f;
    }

    [TapFact]
    public void Frames_flow_between_the_virtqueues_and_a_real_tap_interface() => TapRoundTrip("pvmt");

    [TapFact]
    public void Frames_flow_between_a_real_tap_interface_and_vmm_guest_ram_with_vectored_io()
    {
        // The VMM's guest RAM offers writev/readv: TX frames leave and RX frames arrive with no copy of ours.
        UseVmmMemory();
        TapRoundTrip("pvmv");
    }

    [TapFact]
    public void A_tap_is_opened_with_an_unlimited_send_buffer_so_frames_queued_in_the_host_do_not_refuse_the_next()
    {
        // The kernel's default (net.core.wmem_default) holds three or four 64 KiB TSO frames; QEMU sets it unlimited too.
        using var tap = TapBackend.Open($"pvms{Environment.ProcessId % 100000}");
        Assert.Equal(int.MaxValue, tap.SendBufferBytes);
    }

    [TapFact]
    public void An_empty_tap_reads_minus_one_at_once_into_our_buffer_and_into_guest_ram()
    {
        // The TAP is non-blocking so the I/O thread drains it and polls only when it is empty: a read with nothing
        // queued must come back at once with -1 (EAGAIN), not block and not throw.
        using var tap = TapBackend.Open($"pvme{Environment.ProcessId % 100000}");
        using var memory = GuestMemory.Create(1 << 20);
        Assert.Equal(-1, tap.Read(new byte[2048]));
        Assert.Equal(-1, tap.Read(memory, [new GuestRange(0x1000, 2048)]));
        Assert.False(tap.WaitReadable(0));
    }

    [TapFact]
    public void A_tap_interface_deleted_under_the_device_fails_the_device_instead_of_spinning_the_receive_thread()
    {
        string name = $"pvmd{Environment.ProcessId % 100000}";
        var tap = TapBackend.Open(name);
        Start(tap);
        Ip($"link del {name}");
        Assert.True(SpinWait.SpinUntil(() => (_driver.Status & VirtioStatus.DeviceNeedsReset) != 0, TimeSpan.FromSeconds(10)),
            "the device did not report DEVICE_NEEDS_RESET after its TAP interface was deleted");
    }

    [Fact]
    public void A_packet_for_a_buffer_that_holds_any_packet_is_read_into_it_with_num_buffers_one()
    {
        // Buffers of 64 KiB+ (Linux's "big packets") take the read-into-the-chain path; this backend has no file
        // descriptor, so the interface's default copies through a pooled buffer.
        _memory = new InMemoryGuestMemory(4 << 20);
        _rxBufferBase = 0x100000;
        _rxBufferSize = 70000;
        using var backend = new FakeNetBackend();
        var device = Start(backend, Single);
        foreach (int size in new[] { 60, 1500, 65536 })
        {
            var packet = new byte[12 + size];
            new Random(size).NextBytes(packet);
            backend.ToGuest.Add(packet);
            var got = Receive(_ => true);
            Assert.Equal(packet.Length, got.Length);
            Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(got.AsSpan(10)));
            Assert.Equal(packet[..10], got[..10]);
            Assert.Equal(packet[12..], got[12..]);
        }
        Assert.Equal(0, device.RxDropped);
    }

    // Takes the used buffers of one mergeable packet (num_buffers in the first says how many) and reposts them;
    // returns the packet and each buffer's used length.
    private (byte[] Packet, List<uint> Lengths) ReceiveMerged()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        var packet = new List<byte>();
        var lengths = new List<uint>();
        int expected = 1;
        while (lengths.Count < expected)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{lengths.Count} of {expected} buffers of a packet reached the guest");
            if (!_rx.TryGetUsed(out var head, out var length))
            {
                Thread.Sleep(2);
                continue;
            }
            ulong address = _rxHeads[head];
            packet.AddRange(_memory.GetSpan(address, (int)length).ToArray());
            if (lengths.Count == 0) expected = length >= 12 ? BinaryPrimitives.ReadUInt16LittleEndian(_memory.GetSpan(address + 10, 2)) : 1;
            lengths.Add(length);
            PostRx(address);
            _driver.Kick(0);
        }
        return ([.. packet], lengths);
    }

    private static void AssertSamePacket(byte[] sent, byte[] got, int numBuffers)
    {
        Assert.Equal(sent.Length, got.Length);
        Assert.Equal(numBuffers, BinaryPrimitives.ReadUInt16LittleEndian(got.AsSpan(10)));
        Assert.Equal(sent[..10], got[..10]);
        Assert.Equal(sent[12..], got[12..]);
    }

    [Fact]
    public void Mergeable_packet_spreads_over_as_many_buffers_as_it_needs_with_num_buffers_in_the_first()
    {
        // 16 buffers of 2048 hold less than the largest packet: packets are copied in (the buffered path).
        using var backend = new FakeNetBackend();
        var device = Start(backend);
        foreach (var (size, lengths) in new (int, uint[])[]
                 { (100, [100]), (2048, [2048]), (2049, [2048, 1]), (5000, [2048, 2048, 904]), (12, [12]) })
        {
            var packet = RandomPacket(size);
            backend.ToGuest.Add(packet);
            var (got, used) = ReceiveMerged();
            AssertSamePacket(packet, got, lengths.Length);
            Assert.Equal(lengths, used);
        }
        Assert.Equal(0, device.RxDropped);
    }

    [Fact]
    public void Mergeable_buffers_of_one_packet_are_published_by_one_used_index_update()
    {
        // Linux takes num_buffers from the first buffer and the rest at once: if the used index already showed the
        // first while the others were still being written, it drops the packet (rx_length_errors). The memory below
        // notes the published used index each time the device writes a used element.
        var watched = new UsedRingWatch(new InMemoryGuestMemory(0x100000));
        _memory = watched;
        using var backend = new FakeNetBackend();
        Start(backend);
        watched.UsedRing = _rx.Used;
        watched.Size = _rx.Size;
        var packet = new byte[5000];
        new Random(8).NextBytes(packet);
        backend.ToGuest.Add(packet);
        var (got, used) = ReceiveMerged();
        AssertSamePacket(packet, got, 3);
        // The three elements (ring slots 0, 1, 2) were written while the published index still said 0.
        Assert.Equal([(0, 0), (1, 0), (2, 0)], watched.ElementWrites);
    }

    // Records (used-ring slot, published used index) for every used-element write.
    private sealed class UsedRingWatch(IGuestMemory inner) : IGuestMemory
    {
        public ulong UsedRing = ulong.MaxValue;
        public int Size;
        public readonly List<(int Slot, int Published)> ElementWrites = [];

        public ulong TotalBytes => inner.TotalBytes;

        public bool Contains(ulong address, ulong length) => inner.Contains(address, length);

        public bool TryRead(ulong address, Span<byte> destination) => inner.TryRead(address, destination);

        public bool TryWrite(ulong address, ReadOnlySpan<byte> source)
        {
            if (address >= UsedRing + 4 && address < UsedRing + 4 + 8UL * (ulong)Size && source.Length == 8)
                lock (ElementWrites) ElementWrites.Add(((int)((address - UsedRing - 4) / 8), inner.ReadU16(UsedRing + 2)));
            return inner.TryWrite(address, source);
        }

        public Span<byte> GetSpan(ulong address, int length) => inner.GetSpan(address, length);
    }

    [Fact]
    public void Mergeable_packets_are_read_straight_into_buffers_that_together_hold_the_largest_packet()
    {
        // 32 buffers of 4096 (Linux's page-sized mergeable buffers) hold 128 KiB: each packet is read into the held
        // chains directly (this backend has no file descriptor, so the interface's default scatters it there).
        _memory = new InMemoryGuestMemory(4 << 20);
        _rxBufferBase = 0x100000;
        _rxBufferSize = 4096;
        _rxCount = 32;
        _rxQueueSize = 64;
        using var backend = new FakeNetBackend();
        var device = Start(backend);
        foreach (var (size, count) in new[] { (60, 1), (4096, 1), (4097, 2), (12 + 65536 + 18, 17), (1514, 1) })
        {
            var packet = RandomPacket(size);
            backend.ToGuest.Add(packet);
            var (got, used) = ReceiveMerged();
            AssertSamePacket(packet, got, count);
            Assert.Equal(size, (int)used.Sum(l => (long)l));
            Assert.All(used.SkipLast(1), l => Assert.Equal(4096u, l));
        }
        Assert.Equal(0, device.RxDropped);
    }

    // Interrupts delivered on the receive queue's vector (Start gives queue 0 vector 1).
    private int RxInterrupts => _context!.RecordingInterrupts.Groups.Single().DeliveredCount(1);

    private static byte[] RandomPacket(int size)
    {
        var packet = new byte[size];
        new Random(size).NextBytes(packet);
        return packet;
    }

    // Without EVENT_IDX (and with NO_INTERRUPT never set by this driver) every interrupt check of the device sends
    // one, so the counts below say how often it checked.
    private const ulong NoEventIdx = ulong.MaxValue & ~VirtioFeatures.RingEventIdx;

    [Fact]
    public void Mergeable_burst_of_packets_gets_one_interrupt_after_its_last_packet()
    {
        using var backend = new FakeNetBackend();
        backend.Open.Reset();
        Start(backend, NoEventIdx);
        var sent = Enumerable.Range(0, 4).Select(i => RandomPacket(100 + i)).ToArray();
        foreach (var p in sent) backend.ToGuest.Add(p);
        backend.Open.Set();
        foreach (var p in sent) AssertSamePacket(p, ReceiveMerged().Packet, 1);
        Assert.True(SpinWait.SpinUntil(() => RxInterrupts >= 1, TimeSpan.FromSeconds(10)));
        Thread.Sleep(50);
        Assert.Equal(1, RxInterrupts);
        // a packet on its own gets its interrupt as soon as the backend is empty again
        backend.ToGuest.Add(RandomPacket(200));
        ReceiveMerged();
        Assert.True(SpinWait.SpinUntil(() => RxInterrupts == 2, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void Mergeable_burst_longer_than_the_batch_gets_an_interrupt_every_batch()
    {
        // a backend that never runs empty must not hold the guest's interrupt back for a whole ring
        using var backend = new FakeNetBackend();
        backend.Open.Reset();
        _rxCount = 32;
        _rxQueueSize = 32;
        Start(backend, NoEventIdx);
        var sent = Enumerable.Range(0, 20).Select(i => RandomPacket(60 + i)).ToArray();
        foreach (var p in sent) backend.ToGuest.Add(p);
        backend.Open.Set();
        // 20 packets: after the 8th, after the 16th, and the last 4 when the backend is empty
        Assert.True(SpinWait.SpinUntil(() => RxInterrupts >= 3, TimeSpan.FromSeconds(10)));
        Thread.Sleep(50);
        Assert.Equal(3, RxInterrupts);
        foreach (var p in sent) AssertSamePacket(p, ReceiveMerged().Packet, 1);
    }

    [Fact]
    public void Mergeable_receive_tells_the_guest_of_its_packets_before_waiting_for_buffers()
    {
        // Two buffers, three packets of one buffer each: the third waits for a buffer, and the guest has to have had
        // the interrupt for the first two by then, or it would never give one back.
        using var backend = new FakeNetBackend();
        backend.Open.Reset();
        _rxCount = 2;
        Start(backend, NoEventIdx);
        var sent = Enumerable.Range(0, 3).Select(i => RandomPacket(2000 + i)).ToArray();
        foreach (var p in sent) backend.ToGuest.Add(p);
        backend.Open.Set();
        Assert.True(SpinWait.SpinUntil(() => RxInterrupts == 1 && backend.ToGuest.Count == 0, TimeSpan.FromSeconds(10)));
        foreach (var p in sent) AssertSamePacket(p, ReceiveMerged().Packet, 1);
        Assert.True(SpinWait.SpinUntil(() => RxInterrupts == 2, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void Mergeable_packet_larger_than_the_buffers_posted_waits_for_more_and_is_not_dropped()
    {
        using var backend = new FakeNetBackend();
        _rxCount = 2;
        var device = Start(backend);
        var packet = new byte[6000];
        new Random(3).NextBytes(packet);
        backend.ToGuest.Add(packet);
        // 4096 bytes posted: the device takes both (avail_event moves past them when it finds the ring empty) and
        // waits; the packet cannot complete, whatever the timing.
        Assert.True(SpinWait.SpinUntil(() => _rx.AvailEvent == 2 && backend.ToGuest.Count == 0, TimeSpan.FromSeconds(10)));
        Assert.False(_rx.TryGetUsed(out _, out _));
        PostRx(_rxBufferBase + 2UL * 2048);
        _driver.Kick(0);
        var (got, used) = ReceiveMerged();
        AssertSamePacket(packet, got, 3);
        Assert.Equal([2048u, 2048u, 1904u], used);
        Assert.Equal(0, device.RxDropped);
    }

    [Fact]
    public void Mergeable_buffers_too_small_for_the_header_or_outside_ram_come_back_empty_and_the_next_ones_are_used()
    {
        using var backend = new FakeNetBackend();
        _rxCount = 0;
        Start(backend);
        ushort tooSmall = _rx.Submit(new GuestBuffer(_rxBufferBase, 11, true));
        ushort outside = _rx.Submit(new GuestBuffer(0x1_0000_0000, 2048, true));
        PostRx(_rxBufferBase + 2048);
        _driver.Kick(0);
        var packet = new byte[300];
        new Random(4).NextBytes(packet);
        backend.ToGuest.Add(packet);
        Assert.Equal((tooSmall, 0u), _rx.WaitUsed(TimeSpan.FromSeconds(10)));
        Assert.Equal((outside, 0u), _rx.WaitUsed(TimeSpan.FromSeconds(10)));
        var (got, used) = ReceiveMerged();
        AssertSamePacket(packet, got, 1);
        Assert.Equal([300u], used);
        Assert.Equal(0, _driver.Status & VirtioStatus.DeviceNeedsReset);
    }

    [Fact]
    public void Mergeable_packet_shorter_than_the_header_is_dropped_without_using_a_buffer()
    {
        using var backend = new FakeNetBackend();
        var device = Start(backend);
        backend.ToGuest.Add(new byte[5]);
        var packet = new byte[80];
        new Random(6).NextBytes(packet);
        backend.ToGuest.Add(packet);
        var (got, used) = ReceiveMerged();
        AssertSamePacket(packet, got, 1);
        Assert.Equal(1, device.RxDropped);
    }

    private void TapRoundTrip(string prefix)
    {
        string name = $"{prefix}{Environment.ProcessId % 100000}";
        var host = IPAddress.Parse("10.213.7.1");
        var guest = IPAddress.Parse("10.213.7.2");
        var tap = TapBackend.Open(name);   // owned by the device from here on
        Assert.Equal(name, tap.Name);
        Start(tap);
        Ip($"addr add {host}/24 dev {name}");
        Ip($"link set {name} up");
        Ip($"neigh replace {guest} lladdr 52:54:00:12:34:56 dev {name}");
        var tapMac = Convert.FromHexString(File.ReadAllText($"/sys/class/net/{name}/address").Trim().Replace(":", ""));

        // Guest -> host: a UDP datagram the host stack delivers to a socket.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        listener.Bind(new IPEndPoint(host, 40001));
        listener.ReceiveTimeout = 10_000;
        Send(UdpFrame(tapMac, GuestMac, guest, host, 40002, 40001, "ping from guest"u8.ToArray()));
        var buffer = new byte[256];
        EndPoint from = new IPEndPoint(IPAddress.Any, 0);
        int n = listener.ReceiveFrom(buffer, ref from);
        Assert.Equal("ping from guest", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
        Assert.Equal(new IPEndPoint(guest, 40002), from);

        // Host -> guest: a datagram to the guest's address comes out of the TAP into an RX buffer.
        listener.SendTo("pong from host"u8, new IPEndPoint(guest, 40002));
        var payload = "pong from host"u8.ToArray();
        var got = Receive(p => p.AsSpan().IndexOf(payload) >= 0);
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(got.AsSpan(10)));
        Assert.Equal(GuestMac, got[12..18]);                  // Ethernet destination
        Assert.Equal(tapMac, got[18..24]);                    // from the TAP's MAC
        Assert.Equal(0x0800, BinaryPrimitives.ReadUInt16BigEndian(got.AsSpan(24)));
    }
}
