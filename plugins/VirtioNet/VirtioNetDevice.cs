using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using PluginVmm.Plugins.VirtioNet.Interop;
using PluginVmm.Sdk.Virtio;

namespace PluginVmm.Plugins.VirtioNet;

/// <summary>
/// virtio-net (virtio 1.2 §5.1) with one RX/TX queue pair over an <see cref="INetBackend"/> (a TAP interface).
/// Offers MAC and STATUS (link up while there is a backend), checksum offload both ways and TSO4/TSO6/ECN both
/// ways; the receive offloads the guest accepts are passed to the backend (TUNSETOFFLOAD) at DRIVER_OK.
/// <para>
/// TX runs on the transport's queue thread: each chain's readable bytes (virtio_net_hdr_v1 + frame) go to the
/// backend unchanged. RX runs on a thread of its own: it waits for a packet from the backend, then for a guest
/// buffer (re-enabling RX notifications while it waits), copies the packet into the chain and sets num_buffers
/// to 1. A packet that does not fit the guest buffer is dropped (the buffer comes back with length 0).
/// </para>
/// </summary>
public sealed class VirtioNetDevice : IVirtioDevice
{
    /// <summary>Queue indices.</summary>
    public const int RxQueue = 0, TxQueue = 1;

    /// <summary>Queue size offered.</summary>
    public const ushort QueueSize = 256;

    // Feature bits (linux/virtio_net.h).
    public const ulong FeatureCsum = 1UL << 0, FeatureGuestCsum = 1UL << 1, FeatureMac = 1UL << 5,
        FeatureGuestTso4 = 1UL << 7, FeatureGuestTso6 = 1UL << 8, FeatureGuestEcn = 1UL << 9,
        FeatureHostTso4 = 1UL << 11, FeatureHostTso6 = 1UL << 12, FeatureHostEcn = 1UL << 13, FeatureStatus = 1UL << 16;

    /// <summary>VIRTIO_NET_S_LINK_UP.</summary>
    public const ushort LinkUp = 1;

    // Header + the largest GSO packet a TAP hands over (64 KiB IP payload + Ethernet/VLAN header).
    private const int MaxPacket = TapBackend.VnetHeaderSize + 65536 + 18;

    private readonly INetBackend? _backend;
    private readonly ILogger _logger;
    private readonly byte[] _mac;
    private readonly AutoResetEvent _rxBuffers = new(false);
    private VirtioActivation? _active;
    private byte[]? _txBuffer;
    private Thread? _rxThread;
    private volatile bool _stopping;

    /// <summary>Creates the device with <paramref name="backend"/> (null: no link) and MAC <paramref name="mac"/>.</summary>
    public VirtioNetDevice(INetBackend? backend, byte[] mac, ILogger logger)
    {
        if (mac.Length != 6) throw new ArgumentException("a MAC address has 6 bytes", nameof(mac));
        _backend = backend;
        _mac = mac;
        _logger = logger;
    }

    /// <summary>Packets dropped on receive because the guest buffer was too small or unusable.</summary>
    public int RxDropped => Volatile.Read(ref _rxDropped);

    /// <summary>Packets dropped on transmit (malformed chain or backend error).</summary>
    public int TxDropped => Volatile.Read(ref _txDropped);

    private int _rxDropped, _txDropped;
    private long _rxPackets, _txPackets, _rxBufferWaits, _rxBytes, _txBytes, _txGso, _rxGso, _txWriteTicks;

    /// <inheritdoc/>
    public ushort DeviceType => VirtioPciLayout.TypeNet;

    /// <inheritdoc/>
    public ulong DeviceFeatures =>
        FeatureCsum | FeatureGuestCsum | FeatureMac | FeatureGuestTso4 | FeatureGuestTso6 | FeatureGuestEcn
        | FeatureHostTso4 | FeatureHostTso6 | FeatureHostEcn | FeatureStatus;

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
        // One frame buffer for the device's lifetime: Transmit runs under the TX queue's lock, one call at a time,
        // and a fresh 64 KiB array per doorbell was the hottest allocation on the TX path.
        var buffer = _txBuffer ??= new byte[MaxPacket];
        while (tx.TryPop(out var chain))
        {
            ulong length = chain.ReadableLength;
            if (chain.Error is not null || length < TapBackend.VnetHeaderSize || length > MaxPacket || _backend is null)
            {
                Interlocked.Increment(ref _txDropped);
            }
            else
            {
                int n = chain.Read(active.Memory, 0, buffer.AsSpan(0, (int)length));
                try
                {
                    long start = System.Diagnostics.Stopwatch.GetTimestamp();
                    _backend.Write(buffer.AsSpan(0, n));
                    _txWriteTicks += System.Diagnostics.Stopwatch.GetTimestamp() - start;
                    _txPackets++;
                    _txBytes += n;
                    if (buffer[1] != 0) _txGso++;   // virtio_net_hdr.gso_type
                }
                catch (IOException e)
                {
                    // A frame the TAP refuses (bad GSO header from the guest, interface down) is dropped, like a wire would.
                    Interlocked.Increment(ref _txDropped);
                    _logger.LogDebug(e, "virtio-net: TAP refused a frame");
                }
            }
            tx.AddUsed(chain.Head, 0);
        }
        tx.NotifyIfNeeded();
    }

    private void RxLoop(VirtioActivation active, SplitVirtqueue rx)
    {
        var packet = new byte[MaxPacket];
        try
        {
            while (!_stopping)
            {
                if (!_backend!.WaitReadable(100)) continue;
                int length = _backend.Read(packet);
                if (length <= 0) continue;
                if (!Deliver(active, rx, packet.AsSpan(0, length))) return;
            }
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

    // Waits for a guest buffer and copies the packet in; false when stopping.
    private bool Deliver(VirtioActivation active, SplitVirtqueue rx, Span<byte> packet)
    {
        DescriptorChain chain;
        while (true)
        {
            if (_stopping) return false;
            if (rx.TryPop(out chain)) break;
            rx.SetNotification(true);
            if (rx.HasAvailable) continue;
            _rxBufferWaits++;
            _rxBuffers.WaitOne(100);
        }
        uint written = 0;
        if (chain.Error is null && chain.WritableLength >= (ulong)packet.Length && packet.Length >= TapBackend.VnetHeaderSize)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(packet[10..], 1);   // num_buffers: the packet is in this one chain
            written = (uint)chain.Write(active.Memory, 0, packet);
            _rxPackets++;
            _rxBytes += packet.Length;
            if (packet[1] != 0) _rxGso++;
        }
        else
        {
            Interlocked.Increment(ref _rxDropped);
        }
        rx.AddUsed(chain.Head, written);
        rx.NotifyIfNeeded();
        return true;
    }

    /// <inheritdoc/>
    public void Reset()
    {
        _stopping = true;
        _rxBuffers.Set();
        if (_rxThread is { } t && t != Thread.CurrentThread) t.Join();
        _rxThread = null;
        if (_active is not null)
            _logger.LogInformation("virtio-net: reset; rx {RxPackets} packets, {RxBytes} bytes, {RxGso} GSO ({RxDropped} dropped, {Waits} waits for a guest buffer); " +
                "tx {TxPackets} packets, {TxBytes} bytes, {TxGso} GSO ({TxDropped} dropped), {TxWriteMs:F0} ms in TAP writes",
                Interlocked.Read(ref _rxPackets), Interlocked.Read(ref _rxBytes), Interlocked.Read(ref _rxGso), RxDropped, Interlocked.Read(ref _rxBufferWaits),
                Interlocked.Read(ref _txPackets), Interlocked.Read(ref _txBytes), Interlocked.Read(ref _txGso), TxDropped,
                System.Diagnostics.Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _txWriteTicks)).TotalMilliseconds);
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
