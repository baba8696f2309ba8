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
/// TX runs on the transport's queue thread: each chain's readable bytes (virtio_net_hdr_v1 + frame) go to the
/// backend unchanged, gathered straight from guest RAM (one writev per frame). RX runs on a thread of its own
/// (VirtioNetDevice.Receive.cs): it waits for a packet from the backend, then for guest buffers. With MRG_RXBUF a
/// packet spreads over as many chains as it needs (<see cref="MergeableRxBuffers"/>), read straight into them;
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
    private readonly AutoResetEvent _rxBuffers = new(false);
    private VirtioActivation? _active;
    private GuestRange[] _txRanges = new GuestRange[QueueSize];
    private Thread? _rxThread;
    private volatile bool _stopping;

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

    // Per-packet times (RX busy and read, TX write) are taken for one packet in this many and scaled.
    private const int TimingSample = 16;
    private long _rxPackets, _rxMerged, _rxUnusable, _txPackets, _rxBufferWaits, _rxBytes, _txBytes, _txGso, _rxGso, _txWriteTicks, _txBusyTicks, _txCalls, _rxBusyTicks, _rxReadTicks, _rxCpuMs;

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
        if (_backend is null) return;
        _backend.SetOffload(TunOffloads(activation.Features));
        if (activation.Queues[RxQueue] is { } rx)
        {
            _rxThread = new Thread(() => RxLoop(activation, rx)) { IsBackground = true, Name = "virtio-net rx" };
            _rxThread.Start();
        }
    }

    /// <inheritdoc/>
    public void QueueNotified(int queue)
    {
        if (queue == RxQueue) _rxBuffers.Set();
        else if (queue == TxQueue && _active is { } active && active.Queues[TxQueue] is { } tx) Transmit(active, tx);
    }

    private void Transmit(VirtioActivation active, SplitVirtqueue tx)
    {
        long start = Stopwatch.GetTimestamp();
        _txCalls++;
        Span<byte> gsoType = stackalloc byte[1];
        while (tx.TryPop(out var chain))
        {
            ulong length = chain.ReadableLength;
            if (chain.Error is not null || length < TapBackend.VnetHeaderSize || length > MaxPacket || _backend is null)
            {
                Interlocked.Increment(ref _txDropped);
            }
            else
            {
                try
                {
                    // The frame goes from the chain's guest buffers to the backend with no copy of ours (writev).
                    var packet = Ranges(chain);
                    bool timed = (_txPackets & (TimingSample - 1)) == 0;
                    long writeStart = timed ? Stopwatch.GetTimestamp() : 0;
                    _backend.Write(active.Memory, packet);
                    if (timed) _txWriteTicks += (Stopwatch.GetTimestamp() - writeStart) * TimingSample;
                    _txPackets++;
                    _txBytes += (long)length;
                    if (chain.Read(active.Memory, 1, gsoType) == 1 && gsoType[0] != 0) _txGso++;   // virtio_net_hdr.gso_type
                }
                catch (Exception e) when (e is IOException or GuestMemoryException)
                {
                    // A frame the TAP refuses (bad GSO header from the guest, interface down) is dropped, like a wire would.
                    Interlocked.Increment(ref _txDropped);
                    _logger.LogDebug(e, "virtio-net: TAP refused a frame");
                }
            }
            tx.AddUsed(chain.Head, 0);
            // With EVENT_IDX the driver says (used_event) after which completion it wants an interrupt: Linux asks
            // when about 3/4 of its outstanding frames are done, so it can free them while we work on the rest.
            // Checking after every frame honours that in a long batch; without EVENT_IDX, one check per batch.
            if (tx.EventIdx) tx.NotifyIfNeeded();
        }
        if (!tx.EventIdx) tx.NotifyIfNeeded();
        _txBusyTicks += Stopwatch.GetTimestamp() - start;
    }

    // The chain's readable buffers as guest ranges, in a buffer reused across frames (TX runs one call at a time).
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
        _rxBuffers.Set();
        if (_rxThread is { } t && t != Thread.CurrentThread) t.Join();
        _rxThread = null;
        if (_active is not null)
            _logger.LogInformation("virtio-net: reset; rx {RxPackets} packets, {RxBytes} bytes, {RxGso} GSO, {RxMerged} mergeable buffers ({RxDropped} dropped, {RxUnusable} unusable buffers, {Waits} waits for a guest buffer), {RxBusyMs:F0} ms busy of which {RxReadMs:F0} ms in TAP reads (sampled), thread CPU {RxCpuMs} ms; " +
                "tx {TxPackets} packets, {TxBytes} bytes, {TxGso} GSO ({TxDropped} dropped) in {TxCalls} doorbell batches, " +
                "{TxBusyMs:F0} ms busy of which {TxWriteMs:F0} ms in TAP writes (sampled)",
                Interlocked.Read(ref _rxPackets), Interlocked.Read(ref _rxBytes), Interlocked.Read(ref _rxGso), Interlocked.Read(ref _rxMerged), RxDropped, Interlocked.Read(ref _rxUnusable), Interlocked.Read(ref _rxBufferWaits),
                Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _rxBusyTicks)).TotalMilliseconds,
                Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _rxReadTicks)).TotalMilliseconds, Interlocked.Read(ref _rxCpuMs),
                Interlocked.Read(ref _txPackets), Interlocked.Read(ref _txBytes), Interlocked.Read(ref _txGso), TxDropped, Interlocked.Read(ref _txCalls),
                Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _txBusyTicks)).TotalMilliseconds,
                Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _txWriteTicks)).TotalMilliseconds);
        _active = null;
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
        _rxBuffers.Dispose();
    }
}
