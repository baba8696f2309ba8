using System.Buffers.Binary;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using PluginVmm.Plugins.VirtioNet.Interop;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Virtio;

namespace PluginVmm.Plugins.VirtioNet;

/// <summary>
/// virtio-net (virtio 1.2 §5.1) with one RX/TX queue pair over an <see cref="INetBackend"/> (a TAP interface).
/// Offers MAC and STATUS (link up while there is a backend), checksum offload both ways, TSO4/TSO6/ECN both ways and
/// mergeable receive buffers; the receive offloads the guest accepts are passed to the backend (TUNSETOFFLOAD) at
/// DRIVER_OK.
/// <para>
/// One I/O thread per activation serves both queues (VirtioNetDevice.Loop.cs): it polls the TAP and both doorbell
/// ioeventfds at once (<see cref="NetLoopWaiter"/>). TX: each chain's readable bytes (virtio_net_hdr_v1 + frame) go to
/// the backend unchanged, gathered straight from guest RAM (one writev per frame). RX (VirtioNetDevice.Receive.cs):
/// packets from the backend go into guest buffers; without buffers the loop stops polling the TAP until the driver
/// adds some. With MRG_RXBUF a packet spreads over as many chains as it needs (<see cref="MergeableRxBuffers"/>), read straight into them;
/// without it each packet takes one chain (num_buffers 1), read straight into a chain that holds the largest packet,
/// copied into a smaller one, and dropped when it does not fit.
/// </para>
/// </summary>
public sealed partial class VirtioNetDevice : IVirtioDevice
{
    /// <summary>Queue indices.</summary>
    public const int RxQueue = 0, TxQueue = 1;

    /// <summary>Queue size offered.</summary>
    public const ushort QueueSize = 256;

    // Feature bits (linux/virtio_net.h).
    public const ulong FeatureCsum = 1UL << 0, FeatureGuestCsum = 1UL << 1, FeatureMac = 1UL << 5,
        FeatureGuestTso4 = 1UL << 7, FeatureGuestTso6 = 1UL << 8, FeatureGuestEcn = 1UL << 9,
        FeatureHostTso4 = 1UL << 11, FeatureHostTso6 = 1UL << 12, FeatureHostEcn = 1UL << 13, FeatureMrgRxbuf = 1UL << 15,
        FeatureStatus = 1UL << 16;

    /// <summary>VIRTIO_NET_S_LINK_UP.</summary>
    public const ushort LinkUp = 1;

    // Header + the largest GSO packet a TAP hands over (64 KiB IP payload + Ethernet/VLAN header).
    private const int MaxPacket = TapBackend.VnetHeaderSize + 65536 + 18;

    private readonly INetBackend? _backend;
    private readonly ILogger _logger;
    private readonly byte[] _mac;
    private VirtioActivation? _active;
    private GuestRange[] _txRanges = new GuestRange[QueueSize];
    private Thread? _ioThread;
    private NetLoopWaiter? _waiter;
    private volatile bool _stopping;
    // Transmit runs on the I/O thread for a polled doorbell and on the caller's thread for QueueNotified (a doorbell
    // without an ioeventfd, or an MMIO exit): done at once there, as the transport's contract has it, one at a time.
    private readonly object _txLock = new();

    /// <summary>
    /// Creates the device with <paramref name="backend"/> (null: no link) and MAC <paramref name="mac"/>;
    /// <paramref name="mergeableRx"/> false leaves VIRTIO_NET_F_MRG_RXBUF out of the offered features.
    /// </summary>
    public VirtioNetDevice(INetBackend? backend, byte[] mac, ILogger logger, bool mergeableRx = true)
    {
        if (mac.Length != 6) throw new ArgumentException("a MAC address has 6 bytes", nameof(mac));
        _backend = backend;
        _mac = mac;
        _logger = logger;
        _mergeableRx = mergeableRx;
    }

    private readonly bool _mergeableRx;

    /// <summary>Packets dropped on receive because the guest buffer was too small or unusable.</summary>
    public int RxDropped => Volatile.Read(ref _rxDropped);

    /// <summary>Packets dropped on transmit (malformed chain or backend error).</summary>
    public int TxDropped => Volatile.Read(ref _txDropped);

    private int _rxDropped, _txDropped;

    // Per-packet times (RX busy and read, TX write) and TX batch times are taken for one in this many and scaled.
    private const int TimingSample = 16;
    private long _rxPackets, _rxMerged, _rxUnusable, _txPackets, _rxBufferWaits, _rxBytes, _txBytes, _txGso, _rxGso, _txWriteTicks, _txBusyTicks, _txCalls, _rxBusyTicks, _rxReadTicks, _ioCpuMs;

    /// <inheritdoc/>
    public ushort DeviceType => VirtioPciLayout.TypeNet;

    /// <inheritdoc/>
    public ulong DeviceFeatures =>
        FeatureCsum | FeatureGuestCsum | FeatureMac | FeatureGuestTso4 | FeatureGuestTso6 | FeatureGuestEcn
        | FeatureHostTso4 | FeatureHostTso6 | FeatureHostEcn | (_mergeableRx ? FeatureMrgRxbuf : 0) | FeatureStatus;

    /// <inheritdoc/>
    public int QueueCount => 2;

    /// <inheritdoc/>
    public ushort MaxQueueSize(int queue) => QueueSize;

    /// <inheritdoc/>
    public uint ConfigLength => 0x0C;   // mac[6], status, max_virtqueue_pairs, mtu

    /// <inheritdoc/>
    public void ReadConfig(uint offset, Span<byte> data)
    {
        Span<byte> c = stackalloc byte[(int)ConfigLength];
        c.Clear();
        _mac.CopyTo(c);
        BinaryPrimitives.WriteUInt16LittleEndian(c[6..], _backend is null ? (ushort)0 : LinkUp);
        BinaryPrimitives.WriteUInt16LittleEndian(c[8..], 1);
        c.Slice((int)offset, data.Length).CopyTo(data);
    }

    /// <inheritdoc/>
    public void WriteConfig(uint offset, ReadOnlySpan<byte> data)
    {
        // The MAC is read-only for a VERSION_1 driver (it would use VIRTIO_NET_CTRL_MAC_ADDR_SET, not offered).
    }

    /// <summary>TUN_F_* flags for the receive offloads in <paramref name="features"/>.</summary>
    public static uint TunOffloads(ulong features)
    {
        uint flags = 0;
        if ((features & FeatureGuestCsum) != 0)
        {
            flags |= TapNative.TunFCsum;
            // TSO needs checksum offload: the kernel refuses TSO flags without TUN_F_CSUM.
            if ((features & FeatureGuestTso4) != 0) flags |= TapNative.TunFTso4;
            if ((features & FeatureGuestTso6) != 0) flags |= TapNative.TunFTso6;
            if ((features & FeatureGuestEcn) != 0 && (flags & (TapNative.TunFTso4 | TapNative.TunFTso6)) != 0) flags |= TapNative.TunFTsoEcn;
        }
        return flags;
    }

    /// <inheritdoc/>
    public void Activate(VirtioActivation activation)
    {
        _active = activation;
        _stopping = false;
        _backend?.SetOffload(TunOffloads(activation.Features));
        // Without a backend the loop still runs: the guest's frames are taken and dropped (no link), not left queued.
        var waiter = new NetLoopWaiter(_backend, _backend is TapBackend tap ? $"TAP interface {tap.Name}" : "the network backend",
            activation.TakeDoorbell(RxQueue), activation.TakeDoorbell(TxQueue));
        _waiter = waiter;
        _ioThread = new Thread(() => IoLoop(activation, waiter)) { IsBackground = true, Name = "virtio-net io" };
        _ioThread.Start();
    }

    /// <inheritdoc/>
    public void QueueNotified(int queue)
    {
        // A TX doorbell the loop does not poll (no ioeventfd, or an MMIO exit) is served here; an RX one wakes the loop,
        // which may be waiting for the buffers it announces.
        if (queue == TxQueue && _active is { } active && active.Queues[TxQueue] is { } tx)
        {
            TxOutcome outcome;
            while ((outcome = Transmit(active, tx, TxBudget)) == TxOutcome.Budget) { }
            // The loop waits for the backend's room and sends the held frame.
            if (outcome == TxOutcome.Blocked) _waiter?.Wake();
        }
        else if (queue == RxQueue)
        {
            _waiter?.Wake();
        }
    }

    /// <summary>How a turn of transmitting ended.</summary>
    private enum TxOutcome
    {
        /// <summary>The ring is empty (and, with EVENT_IDX, the driver was asked to notify at its next frame).</summary>
        Idle,
        /// <summary>The budget ran out: chains may be left, the caller comes back at once.</summary>
        Budget,
        /// <summary>The backend refused a frame (its queue is full): it is held in <see cref="_txPending"/>, first of the next turn.</summary>
        Blocked,
    }

    // A frame the backend refused, not yet returned to the guest: sent before any other once the backend has room, so
    // none is lost and the order holds. Set and cleared under _txLock; read by the loop to know what to wait for.
    private volatile DescriptorChain? _txPending;
    private long _txBlocked;

    // Sends up to `budget` frames.
    private TxOutcome Transmit(VirtioActivation active, SplitVirtqueue tx, int budget)
    {
        lock (_txLock) return TransmitLocked(active, tx, budget);
    }

    private TxOutcome TransmitLocked(VirtioActivation active, SplitVirtqueue tx, int budget)
    {
        // Timed for 1 call in TimingSample and scaled, as the frames' writes are: in L1 (HPET clock source) every
        // clock read is a system call, and a profile put ~6 % of this thread's time in the kernel's read_hpet.
        bool timedCall = (_txCalls & (TimingSample - 1)) == 0;
        long start = timedCall ? Stopwatch.GetTimestamp() : 0;
        _txCalls++;
        Span<byte> gsoType = stackalloc byte[1];
        int sent = 0;
        var outcome = TxOutcome.Idle;
        while (true)
        {
            if (sent == budget)
            {
                outcome = TxOutcome.Budget;
                break;
            }
            var chain = _txPending;
            _txPending = null;
            if (chain is null && !tx.TryPop(out chain)) break;
            if (!Send(active, chain, gsoType))
            {
                _txPending = chain;
                _txBlocked++;
                outcome = TxOutcome.Blocked;
                break;
            }
            sent++;
            tx.AddUsed(chain.Head, 0);
            // With EVENT_IDX the driver says (used_event) after which completion it wants an interrupt: Linux asks
            // when about 3/4 of its outstanding frames are done, so it can free them while we work on the rest.
            // Checking after every frame honours that in a long batch; without EVENT_IDX, one check per batch.
            if (tx.EventIdx) tx.NotifyIfNeeded();
        }
        if (!tx.EventIdx) tx.NotifyIfNeeded();
        if (timedCall) _txBusyTicks += (Stopwatch.GetTimestamp() - start) * TimingSample;
        return outcome;
    }

    // Hands one chain's frame to the backend; false when the backend cannot take it now (nothing sent). A malformed
    // chain or a frame the backend rejects is dropped (true: it goes back to the guest as done).
    private bool Send(VirtioActivation active, DescriptorChain chain, Span<byte> gsoType)
    {
        ulong length = chain.ReadableLength;
        if (chain.Error is not null || length < TapBackend.VnetHeaderSize || length > MaxPacket || _backend is null)
        {
            Interlocked.Increment(ref _txDropped);
            return true;
        }
        try
        {
            // The frame goes from the chain's guest buffers to the backend with no copy of ours (writev).
            var packet = Ranges(chain);
            bool timed = (_txPackets & (TimingSample - 1)) == 0;
            long writeStart = timed ? Stopwatch.GetTimestamp() : 0;
            bool taken = _backend.TryWrite(active.Memory, packet);
            if (timed) _txWriteTicks += (Stopwatch.GetTimestamp() - writeStart) * TimingSample;
            if (!taken) return false;
            _txPackets++;
            _txBytes += (long)length;
            if (chain.Read(active.Memory, 1, gsoType) == 1 && gsoType[0] != 0) _txGso++;   // virtio_net_hdr.gso_type
        }
        catch (Exception e) when (e is IOException or GuestMemoryException)
        {
            // A frame the TAP rejects (bad GSO header from the guest, interface down) is dropped, like a wire would.
            Interlocked.Increment(ref _txDropped);
            _logger.LogDebug(e, "virtio-net: TAP rejected a frame");
        }
        return true;
    }

    // The chain's readable buffers as guest ranges, in a buffer reused across frames (under _txLock).
    // The chain was checked: every buffer is in guest RAM and the total is at most MaxPacket, so each fits an int.
    private ReadOnlySpan<GuestRange> Ranges(DescriptorChain chain)
    {
        var readable = chain.Readable;
        if (_txRanges.Length < readable.Count) _txRanges = new GuestRange[readable.Count];
        for (int i = 0; i < readable.Count; i++) _txRanges[i] = new GuestRange(readable[i].Address, (int)readable[i].Length);
        return _txRanges.AsSpan(0, readable.Count);
    }

    /// <inheritdoc/>
    public void Reset()
    {
        _stopping = true;
        _waiter?.Wake();
        if (_ioThread is { } t && t != Thread.CurrentThread) t.Join();
        _ioThread = null;
        _waiter?.Dispose();
        _waiter = null;
        if (_active is not null)
            _logger.LogInformation("virtio-net: reset; rx {RxPackets} packets, {RxBytes} bytes, {RxGso} GSO, {RxMerged} mergeable buffers ({RxDropped} dropped, {RxUnusable} unusable buffers, {Waits} waits for a guest buffer), {RxBusyMs:F0} ms busy of which {RxReadMs:F0} ms in TAP reads (sampled); " +
                "tx {TxPackets} packets, {TxBytes} bytes, {TxGso} GSO ({TxDropped} dropped, {TxBlocked} waits for room in the backend) in {TxCalls} doorbell batches, " +
                "{TxBusyMs:F0} ms busy of which {TxWriteMs:F0} ms in TAP writes (sampled); I/O thread CPU {IoCpuMs} ms",
                Interlocked.Read(ref _rxPackets), Interlocked.Read(ref _rxBytes), Interlocked.Read(ref _rxGso), Interlocked.Read(ref _rxMerged), RxDropped, Interlocked.Read(ref _rxUnusable), Interlocked.Read(ref _rxBufferWaits),
                Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _rxBusyTicks)).TotalMilliseconds,
                Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _rxReadTicks)).TotalMilliseconds,
                Interlocked.Read(ref _txPackets), Interlocked.Read(ref _txBytes), Interlocked.Read(ref _txGso), TxDropped, Interlocked.Read(ref _txBlocked), Interlocked.Read(ref _txCalls),
                Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _txBusyTicks)).TotalMilliseconds,
                Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _txWriteTicks)).TotalMilliseconds, Interlocked.Read(ref _ioCpuMs));
        _active = null;
        // A frame held for the backend goes with the queue it came from.
        _txPending = null;
        try
        {
            _backend?.SetOffload(0);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The backend is gone already; nothing to undo.
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Reset();
        _backend?.Dispose();
    }
}
