using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using PluginVmm.Sdk.Diagnostics;
using PluginVmm.Sdk.Interrupts;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Resources;

namespace PluginVmm.Sdk.Virtio;

/// <summary>
/// The modern (non-transitional) virtio-over-PCI transport (virtio 1.2 §4.1) for an <see cref="IVirtioDevice"/>:
/// IDs 1af4:(0x1040 + type), revision 1, a 64-bit BAR0 laid out per <see cref="VirtioPciLayout"/> holding the common
/// config, ISR, device config, notify doorbells and the MSI-X table/PBA with queues + 1 vectors (the driver picks
/// which vector serves which queue and the config change).
/// <para>
/// Doorbells: one ioeventfd per queue at BAR0 + notify offset + 4·queue, registered through
/// <see cref="IBarResources.AddIoEvent"/> (so KVM signals it without an exit and the core moves it with the BAR),
/// each served by a thread that calls <see cref="IVirtioDevice.QueueNotified"/>, unless the device took it to poll
/// itself (<see cref="VirtioActivation.TakeDoorbell"/>). A doorbell write that still arrives as an MMIO exit is served
/// on the vCPU thread, under the same per-queue lock.
/// </para>
/// <para>
/// Status: FEATURES_OK is refused (reads back clear) when the driver accepted a feature that was not offered or
/// left out VERSION_1; DRIVER_OK activates the enabled queues; writing 0 resets. A broken ring or a device
/// exception sets DEVICE_NEEDS_RESET, raises the config interrupt and stops notifications until reset.
/// Every malformed access is ignored (reads return zeros).
/// </para>
/// </summary>
public class VirtioPciTransport : PciDevice, IDisposable
{
    /// <summary>queue_msix_vector / config_msix_vector value for "no vector".</summary>
    public const ushort NoVector = 0xFFFF;

    private const int IsrQueue = 1, IsrConfig = 2;

    private readonly IVirtioDevice _device;
    private readonly IGuestMemory _memory;
    private readonly ILogger _logger;
    private readonly string _name;
    private readonly IMsiVectorGroup _vectors;
    private readonly int _msixCapability;
    private readonly QueueState[] _queues;
    private readonly IIoEvent?[] _ioEvents;
    private readonly object[] _queueLocks;
    private readonly object _lock = new();
    private readonly OnceWarning _badAccess;
    private readonly ulong _offered;

    private uint _deviceFeatureSelect, _driverFeatureSelect;
    private ulong _driverFeatures;
    private ushort _configVector = NoVector;
    private int _status;
    private int _configGeneration;
    private ushort _queueSelect;
    private int _isr;
    private Running? _running;
    private bool _disposed;

    private sealed class QueueState
    {
        public ushort Size, MaxSize;
        public volatile int Vector = NoVector;
        public bool Enabled;
        public ulong Desc, Driver, Device;
    }

    private sealed class Running
    {
        public required CancellationTokenSource Stop;
        public required List<Thread> Threads;
        public required SplitVirtqueue?[] Queues;
        public volatile bool Failed;
        public long[] IoEventKicks = [], MmioKicks = [];
    }

    /// <summary>
    /// Creates the PCI function for <paramref name="device"/>: config space, MSI-X vectors from
    /// <see cref="IDeviceContext.Interrupts"/>, one doorbell ioeventfd per queue from <see cref="IDeviceContext.BarResources"/>.
    /// </summary>
    public VirtioPciTransport(IVirtioDevice device, IDeviceContext context, byte classCode, byte subclass)
        : this(device, context, BuildConfiguration(device, classCode, subclass, out int msixCapability), msixCapability)
    {
    }

    private VirtioPciTransport(IVirtioDevice device, IDeviceContext context, PciConfiguration configuration, int msixCapability)
        : base(configuration)
    {
        _device = device;
        _memory = context.Memory;
        _logger = context.Logger;
        _name = context.Name;
        _msixCapability = msixCapability;
        _offered = device.DeviceFeatures | VirtioFeatures.Transport;
        _badAccess = new OnceWarning(context.Logger, $"{context.Name}: ignored malformed virtio BAR0 access");
        int queues = device.QueueCount;
        _vectors = context.Interrupts.CreateMsiGroup(queues + 1);
        Msix = new MsixTable(queues + 1, _vectors);
        _queues = new QueueState[queues];
        _queueLocks = new object[queues];
        _ioEvents = new IIoEvent?[queues];
        for (int i = 0; i < queues; i++)
        {
            ushort max = device.MaxQueueSize(i);
            _queues[i] = new QueueState { Size = max, MaxSize = max };
            _queueLocks[i] = new object();
            try
            {
                _ioEvents[i] = context.BarResources.AddIoEvent(0, VirtioPciLayout.NotifyOffset + (ulong)i * VirtioPciLayout.NotifyMultiplier, 0);
            }
            catch (Exception e)
            {
                // Without an ioeventfd the doorbell still works, as an MMIO exit served on the vCPU thread.
                _logger.LogWarning(e, "{Device}: no ioeventfd for queue {Queue}; notifications take the MMIO-exit path", _name, i);
            }
        }
    }

    /// <summary>The MSI-X table (exposed for tests and diagnostics).</summary>
    public MsixTable Msix { get; }

    /// <summary>The device behind the transport.</summary>
    public IVirtioDevice Device => _device;

    /// <summary>device_status as the driver reads it.</summary>
    public byte Status => (byte)Volatile.Read(ref _status);

    /// <summary>Config offset of the MSI-X capability.</summary>
    public int MsixCapabilityOffset => _msixCapability;

    private static PciConfiguration BuildConfiguration(IVirtioDevice device, byte classCode, byte subclass, out int msixCapability)
    {
        int queues = device.QueueCount;
        if (queues is < 1 or > 1024) throw new ArgumentException("a virtio device has 1 to 1024 queues", nameof(device));
        if (device.ConfigLength > VirtioPciLayout.DeviceConfigMaxLength) throw new ArgumentException("device config space is larger than 4 KiB", nameof(device));
        for (int i = 0; i < queues; i++)
        {
            ushort max = device.MaxQueueSize(i);
            if (max == 0 || max > 32768 || (max & (max - 1)) != 0) throw new ArgumentException($"queue {i}: maximum size {max} is not a power of two up to 32768", nameof(device));
        }
        ushort deviceId = (ushort)(VirtioPciLayout.DeviceIdBase + device.DeviceType);
        var config = new PciConfiguration(VirtioPciLayout.VendorId, deviceId, classCode, subclass, revision: 1,
            subsystemVendorId: VirtioPciLayout.VendorId, subsystemId: deviceId);
        config.AddBar(new PciBarSpec(0, VirtioPciLayout.BarSize, PciBarKind.Memory64));
        PciCapabilities.AddVirtio(config, VirtioPciLayout.CommonCfg, 0, VirtioPciLayout.CommonOffset, VirtioPciLayout.CommonLength);
        PciCapabilities.AddVirtio(config, VirtioPciLayout.IsrCfg, 0, VirtioPciLayout.IsrOffset, VirtioPciLayout.IsrLength);
        if (device.ConfigLength > 0)
            PciCapabilities.AddVirtio(config, VirtioPciLayout.DeviceCfg, 0, VirtioPciLayout.DeviceConfigOffset, device.ConfigLength);
        PciCapabilities.AddVirtio(config, VirtioPciLayout.NotifyCfg, 0, VirtioPciLayout.NotifyOffset,
            (uint)queues * VirtioPciLayout.NotifyMultiplier, VirtioPciLayout.NotifyMultiplier);
        msixCapability = PciCapabilities.AddMsix(config, queues + 1, 0, VirtioPciLayout.MsixTableOffset, VirtioPciLayout.MsixPbaOffset);
        return config;
    }

    /// <inheritdoc/>
    protected override void OnConfigWritten(int register, int offset, ReadOnlySpan<byte> data)
    {
        if (register == _msixCapability / 4) Msix.SyncFromConfig(Configuration, _msixCapability);
    }

    /// <inheritdoc/>
    public override void ReadBar(int index, ulong offset, Span<byte> data)
    {
        data.Clear();
        try
        {
            if (index != 0 || data.Length is not (1 or 2 or 4 or 8)) { _badAccess.Hit($"read BAR{index}+0x{offset:x}/{data.Length}"); return; }
            if (In(offset, data.Length, VirtioPciLayout.CommonOffset, VirtioPciLayout.CommonLength)) ReadCommon((uint)(offset - VirtioPciLayout.CommonOffset), data);
            else if (offset == VirtioPciLayout.IsrOffset) data[0] = (byte)Interlocked.Exchange(ref _isr, 0);
            else if (In(offset, data.Length, VirtioPciLayout.DeviceConfigOffset, _device.ConfigLength)) _device.ReadConfig((uint)(offset - VirtioPciLayout.DeviceConfigOffset), data);
            else if (In(offset, data.Length, VirtioPciLayout.MsixTableOffset, (uint)Msix.TableBytes)) Msix.ReadTable(offset - VirtioPciLayout.MsixTableOffset, data);
            else if (In(offset, data.Length, VirtioPciLayout.MsixPbaOffset, (uint)Msix.PbaBytes)) Msix.ReadPba(offset - VirtioPciLayout.MsixPbaOffset, data);
        }
        catch (Exception e)
        {
            data.Clear();
            Fail($"exception on a BAR0 read at 0x{offset:x}: {e.Message}");
        }
    }

    /// <inheritdoc/>
    public override void WriteBar(int index, ulong offset, ReadOnlySpan<byte> data)
    {
        try
        {
            if (index != 0 || data.Length is not (1 or 2 or 4 or 8)) { _badAccess.Hit($"write BAR{index}+0x{offset:x}/{data.Length}"); return; }
            if (In(offset, data.Length, VirtioPciLayout.CommonOffset, VirtioPciLayout.CommonLength)) WriteCommon((uint)(offset - VirtioPciLayout.CommonOffset), data);
            else if (In(offset, data.Length, VirtioPciLayout.DeviceConfigOffset, _device.ConfigLength)) _device.WriteConfig((uint)(offset - VirtioPciLayout.DeviceConfigOffset), data);
            else if (In(offset, data.Length, VirtioPciLayout.NotifyOffset, (uint)_queues.Length * VirtioPciLayout.NotifyMultiplier))
                Dispatch((int)((offset - VirtioPciLayout.NotifyOffset) / VirtioPciLayout.NotifyMultiplier));
            else if (In(offset, data.Length, VirtioPciLayout.MsixTableOffset, (uint)Msix.TableBytes)) Msix.WriteTable(offset - VirtioPciLayout.MsixTableOffset, data);
            else _badAccess.Hit($"write BAR0+0x{offset:x}/{data.Length}");
        }
        catch (Exception e)
        {
            Fail($"exception on a BAR0 write at 0x{offset:x}: {e.Message}");
        }
    }

    private static bool In(ulong offset, int length, uint start, uint regionLength) =>
        offset >= start && offset - start < regionLength && regionLength - (offset - start) >= (ulong)length;

    // virtio_pci_common_cfg field offsets (virtio 1.2 §4.1.4.3).
    private const uint DeviceFeatureSelect = 0x00, DeviceFeature = 0x04, DriverFeatureSelect = 0x08, DriverFeature = 0x0C,
        ConfigMsixVector = 0x10, NumQueues = 0x12, DeviceStatus = 0x14, ConfigGeneration = 0x15, QueueSelect = 0x16,
        QueueSize = 0x18, QueueMsixVector = 0x1A, QueueEnable = 0x1C, QueueNotifyOff = 0x1E, QueueDesc = 0x20,
        QueueDriver = 0x28, QueueDevice = 0x30;

    private void ReadCommon(uint offset, Span<byte> data)
    {
        Span<byte> cfg = stackalloc byte[(int)VirtioPciLayout.CommonLength];
        lock (_lock)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(cfg[(int)DeviceFeatureSelect..], _deviceFeatureSelect);
            uint features = _deviceFeatureSelect switch { 0 => (uint)_offered, 1 => (uint)(_offered >> 32), _ => 0 };
            BinaryPrimitives.WriteUInt32LittleEndian(cfg[(int)DeviceFeature..], features);
            BinaryPrimitives.WriteUInt32LittleEndian(cfg[(int)DriverFeatureSelect..], _driverFeatureSelect);
            uint driver = _driverFeatureSelect switch { 0 => (uint)_driverFeatures, 1 => (uint)(_driverFeatures >> 32), _ => 0 };
            BinaryPrimitives.WriteUInt32LittleEndian(cfg[(int)DriverFeature..], driver);
            BinaryPrimitives.WriteUInt16LittleEndian(cfg[(int)ConfigMsixVector..], _configVector);
            BinaryPrimitives.WriteUInt16LittleEndian(cfg[(int)NumQueues..], (ushort)_queues.Length);
            cfg[(int)DeviceStatus] = Status;
            cfg[(int)ConfigGeneration] = (byte)Volatile.Read(ref _configGeneration);
            BinaryPrimitives.WriteUInt16LittleEndian(cfg[(int)QueueSelect..], _queueSelect);
            if (SelectedQueue is { } q)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(cfg[(int)QueueSize..], q.Size);
                BinaryPrimitives.WriteUInt16LittleEndian(cfg[(int)QueueMsixVector..], (ushort)q.Vector);
                BinaryPrimitives.WriteUInt16LittleEndian(cfg[(int)QueueEnable..], q.Enabled ? (ushort)1 : (ushort)0);
                BinaryPrimitives.WriteUInt16LittleEndian(cfg[(int)QueueNotifyOff..], _queueSelect);
                BinaryPrimitives.WriteUInt64LittleEndian(cfg[(int)QueueDesc..], q.Desc);
                BinaryPrimitives.WriteUInt64LittleEndian(cfg[(int)QueueDriver..], q.Driver);
                BinaryPrimitives.WriteUInt64LittleEndian(cfg[(int)QueueDevice..], q.Device);
            }
            else
            {
                // A queue that does not exist reads size 0; the driver takes that as "not available".
                BinaryPrimitives.WriteUInt16LittleEndian(cfg[(int)QueueMsixVector..], NoVector);
            }
        }
        cfg.Slice((int)offset, data.Length).CopyTo(data);
    }

    private QueueState? SelectedQueue => _queueSelect < _queues.Length ? _queues[_queueSelect] : null;

    private void WriteCommon(uint offset, ReadOnlySpan<byte> data)
    {
        // Fields are written at their natural width; 64-bit addresses also as two 32-bit halves. Anything else
        // (a byte into a 16-bit field, a write straddling fields) is ignored.
        ulong value = data.Length switch
        {
            1 => data[0],
            2 => BinaryPrimitives.ReadUInt16LittleEndian(data),
            4 => BinaryPrimitives.ReadUInt32LittleEndian(data),
            _ => BinaryPrimitives.ReadUInt64LittleEndian(data),
        };
        lock (_lock)
        {
            switch (offset, data.Length)
            {
                case (DeviceFeatureSelect, 4): _deviceFeatureSelect = (uint)value; break;
                case (DriverFeatureSelect, 4): _driverFeatureSelect = (uint)value; break;
                case (DriverFeature, 4): WriteDriverFeatures((uint)value); break;
                case (ConfigMsixVector, 2): _configVector = CheckedVector((ushort)value); break;
                case (DeviceStatus, 1): WriteStatus((byte)value); break;
                case (QueueSelect, 2): _queueSelect = (ushort)value; break;
                case (QueueSize, 2): WriteQueue(q => { if (value != 0 && value <= q.MaxSize && (value & (value - 1)) == 0) q.Size = (ushort)value; }); break;
                case (QueueMsixVector, 2): WriteQueue(q => q.Vector = CheckedVector((ushort)value)); break;
                case (QueueEnable, 2): WriteQueue(q => { if (value == 1) q.Enabled = true; }); break;
                case (>= QueueDesc and < QueueDevice + 8, 4 or 8) when offset % (uint)data.Length == 0:
                    int length = data.Length;
                    WriteQueue(q => WriteQueueAddress(q, offset, length, value));
                    break;
                default: _badAccess.Hit($"common cfg write 0x{offset:x}/{data.Length}"); break;
            }
        }
    }

    private void WriteDriverFeatures(uint value)
    {
        if ((Status & VirtioStatus.FeaturesOk) != 0) return;  // negotiation is over
        if (_driverFeatureSelect == 0) _driverFeatures = (_driverFeatures & ~0xFFFF_FFFFUL) | value;
        else if (_driverFeatureSelect == 1) _driverFeatures = (_driverFeatures & 0xFFFF_FFFFUL) | (ulong)value << 32;
    }

    // A vector the table does not have reads back as NO_VECTOR, which tells the driver it could not be assigned.
    private ushort CheckedVector(ushort vector) => vector < Msix.Count ? vector : NoVector;

    // Queue registers are frozen once the driver set DRIVER_OK (and while the device needs a reset).
    private void WriteQueue(Action<QueueState> write)
    {
        if (SelectedQueue is not { } q || (Status & (VirtioStatus.DriverOk | VirtioStatus.DeviceNeedsReset)) != 0) return;
        write(q);
    }

    private static void WriteQueueAddress(QueueState q, uint offset, int length, ulong value)
    {
        uint field = offset < QueueDriver ? QueueDesc : offset < QueueDevice ? QueueDriver : QueueDevice;
        ref ulong target = ref field == QueueDesc ? ref q.Desc : ref field == QueueDriver ? ref q.Driver : ref q.Device;
        if (length == 8) target = value;
        else if (offset == field) target = (target & ~0xFFFF_FFFFUL) | value;
        else target = (target & 0xFFFF_FFFFUL) | value << 32;
    }

    private void WriteStatus(byte value)
    {
        if (value == 0)
        {
            ResetLocked();
            return;
        }
        byte old = Status;
        byte next = (byte)(old | (value & ~VirtioStatus.DeviceNeedsReset));
        if ((value & VirtioStatus.FeaturesOk) != 0 && (old & VirtioStatus.FeaturesOk) == 0 && !FeaturesAcceptable())
            next &= unchecked((byte)~VirtioStatus.FeaturesOk);
        bool activate = (next & VirtioStatus.DriverOk) != 0 && (old & VirtioStatus.DriverOk) == 0;
        if (activate && (next & VirtioStatus.FeaturesOk) == 0) { next &= unchecked((byte)~VirtioStatus.DriverOk); activate = false; }
        if ((old & VirtioStatus.DeviceNeedsReset) != 0) activate = false;
        SetStatusBits(next);
        if (activate) Activate();
        if ((value & VirtioStatus.Failed) != 0) StopLocked();
    }

    private bool FeaturesAcceptable()
    {
        if ((_driverFeatures & ~_offered) != 0)
        {
            _logger.LogWarning("{Device}: driver accepted features 0x{Features:x} that were not offered (0x{Offered:x})", _name, _driverFeatures, _offered);
            return false;
        }
        if ((_driverFeatures & VirtioFeatures.Version1) == 0)
        {
            _logger.LogWarning("{Device}: driver did not accept VIRTIO_F_VERSION_1 (legacy drivers are not supported)", _name);
            return false;
        }
        return true;
    }

    private void SetStatusBits(byte value)
    {
        // Keeps DEVICE_NEEDS_RESET if a device thread set it concurrently.
        int current;
        do current = Volatile.Read(ref _status);
        while (Interlocked.CompareExchange(ref _status, value | (current & VirtioStatus.DeviceNeedsReset), current) != current);
    }

    private void Activate()
    {
        var queues = new SplitVirtqueue?[_queues.Length];
        try
        {
            for (int i = 0; i < _queues.Length; i++)
            {
                var q = _queues[i];
                if (!q.Enabled) continue;
                int index = i;
                queues[i] = new SplitVirtqueue(i, _memory, q.Size, q.Desc, q.Driver, q.Device, _driverFeatures, () => SignalQueue(index));
            }
        }
        catch (VirtqueueException e)
        {
            Fail(e.Message);
            return;
        }
        var running = new Running
        {
            Stop = new CancellationTokenSource(), Threads = [], Queues = queues,
            IoEventKicks = new long[queues.Length], MmioKicks = new long[queues.Length],
        };
        _running = running;
        var taken = new bool[queues.Length];
        bool activating = true;
        // A queue's pollable ioeventfd, handed to the device while it activates (VirtioActivation.TakeDoorbell).
        IIoEvent? TakeDoorbell(int queue)
        {
            if (!activating || (uint)queue >= (uint)queues.Length || queues[queue] is null || taken[queue]) return null;
            if (_ioEvents[queue] is not { Fd: >= 0 } ioEvent) return null;
            taken[queue] = true;
            return new DeviceServedDoorbell(ioEvent, running, queue);
        }
        try
        {
            _device.Activate(new VirtioActivation(_driverFeatures, _memory, queues, reason => FailActivation(running, reason), ConfigChanged, TakeDoorbell));
        }
        catch (Exception e)
        {
            Fail($"activation failed: {e.Message}");
            return;
        }
        finally
        {
            activating = false;
        }
        for (int i = 0; i < queues.Length; i++)
        {
            if (queues[i] is null || taken[i] || _ioEvents[i] is not { } ioEvent) continue;
            int index = i;
            var thread = new Thread(() => QueueThread(running, index, ioEvent)) { IsBackground = true, Name = $"{_name} q{i}" };
            running.Threads.Add(thread);
            thread.Start();
        }
        _logger.LogDebug("{Device}: DRIVER_OK, features 0x{Features:x}, {Queues} queue(s) enabled", _name, _driverFeatures, queues.Count(q => q is not null));
    }

    private void QueueThread(Running running, int queue, IIoEvent ioEvent)
    {
        var stop = running.Stop.Token;
        try
        {
            while (ioEvent.Wait(stop))
            {
                running.IoEventKicks[queue]++;
                Dispatch(queue, running);
            }
        }
        catch (ObjectDisposedException)
        {
            // The ioeventfd went away with the device.
        }
        catch (Exception e)
        {
            FailActivation(running, $"queue {queue} thread: {e.Message}");
        }
    }

    // A doorbell the device waits on itself: the transport's event, counted in the activation's statistics and not
    // the device's to dispose.
    private sealed class DeviceServedDoorbell(IIoEvent inner, Running running, int queue) : IIoEvent
    {
        public int Fd => inner.Fd;

        public bool TryConsume(out ulong count)
        {
            if (!inner.TryConsume(out count)) return false;
            Interlocked.Increment(ref running.IoEventKicks[queue]);
            return true;
        }

        public bool Wait(CancellationToken cancellationToken)
        {
            if (!inner.Wait(cancellationToken)) return false;
            Interlocked.Increment(ref running.IoEventKicks[queue]);
            return true;
        }

        public void Dispose()
        {
            // The transport disposes the ioeventfd with the device.
        }
    }

    private void Dispatch(int queue)
    {
        if (_running is { } running && running.Queues[queue] is not null) Interlocked.Increment(ref running.MmioKicks[queue]);
        Dispatch(queue, _running);
    }

    private void Dispatch(int queue, Running? running)
    {
        if (running is null || running.Failed || running.Stop.IsCancellationRequested || running.Queues[queue] is null) return;
        lock (_queueLocks[queue])
        {
            if (running.Failed || running.Stop.IsCancellationRequested) return;
            try
            {
                _device.QueueNotified(queue);
            }
            catch (Exception e)
            {
                FailActivation(running, e is VirtqueueException ? e.Message : $"queue {queue}: {e.GetType().Name}: {e.Message}");
            }
        }
    }

    private void SignalQueue(int queue)
    {
        Interlocked.Or(ref _isr, IsrQueue);
        int vector = _queues[queue].Vector;
        if (vector != NoVector) Msix.Trigger(vector);
    }

    private void ConfigChanged()
    {
        Interlocked.Increment(ref _configGeneration);
        Interlocked.Or(ref _isr, IsrConfig);
        ushort vector = Volatile.Read(ref _configVector);
        if (vector != NoVector) Msix.Trigger(vector);
    }

    /// <summary>
    /// Fences the device until the driver resets it: sets DEVICE_NEEDS_RESET, stops notifications and every queue
    /// (nothing more is taken from or returned to guest memory, whichever thread asks) and, when the driver had set
    /// DRIVER_OK, raises the config interrupt. Safe from any thread.
    /// </summary>
    public void Fail(string reason)
    {
        if (_running is { } running)
        {
            running.Failed = true;
            foreach (var queue in running.Queues) queue?.Stop();
        }
        int old = Interlocked.Or(ref _status, VirtioStatus.DeviceNeedsReset);
        if ((old & VirtioStatus.DeviceNeedsReset) != 0) return;
        _logger.LogWarning("{Device}: device needs reset: {Reason}", _name, reason);
        if ((old & VirtioStatus.DriverOk) != 0) ConfigChanged();
    }

    // A fault reported by (or on behalf of) one activation: ignored once the driver has reset it, so a late report
    // from a thread still finishing the old queues cannot fence the activation that followed.
    private void FailActivation(Running running, string reason)
    {
        if (ReferenceEquals(_running, running)) Fail(reason);
    }

    private void StopLocked()
    {
        if (_running is not { } running) return;
        _running = null;
        running.Failed = true;
        foreach (var queue in running.Queues) queue?.Stop();   // nothing more taken from or returned to the old rings
        running.Stop.Cancel();
        foreach (var t in running.Threads)
            if (t != Thread.CurrentThread) t.Join();
        // A doorbell served on a vCPU thread (an MMIO notify write) may still be inside the device: wait for it, so
        // that after a reset no old request touches guest memory. Nothing under a queue lock takes _lock.
        foreach (var queueLock in _queueLocks)
            lock (queueLock) { }
        running.Stop.Dispose();
        LogQueueStatistics(running);
        try
        {
            _device.Reset();
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "{Device}: device reset failed", _name);
        }
    }

    // One line per activation: how the driver and the device talked (where the exits and interrupts went).
    private void LogQueueStatistics(Running running)
    {
        if (!_logger.IsEnabled(LogLevel.Information)) return;
        var parts = new List<string>();
        for (int i = 0; i < running.Queues.Length; i++)
        {
            if (running.Queues[i] is not { } q) continue;
            parts.Add($"q{i}: {q.Popped} chains, kicks {running.IoEventKicks[i]} ioeventfd + {running.MmioKicks[i]} mmio, " +
                $"interrupts {q.InterruptsSent} sent + {q.InterruptsSuppressed} suppressed");
        }
        if (parts.Count > 0) _logger.LogInformation("{Device}: stopped; {Queues}", _name, string.Join("; ", parts));
    }

    private void ResetLocked()
    {
        StopLocked();
        Volatile.Write(ref _status, 0);
        _deviceFeatureSelect = _driverFeatureSelect = 0;
        _driverFeatures = 0;
        _configVector = NoVector;
        _queueSelect = 0;
        Interlocked.Exchange(ref _isr, 0);
        foreach (var q in _queues)
        {
            q.Size = q.MaxSize;
            q.Vector = NoVector;
            q.Enabled = false;
            q.Desc = q.Driver = q.Device = 0;
        }
    }

    /// <summary>Stops the device and releases its threads, ioeventfds and vectors.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            StopLocked();
        }
        foreach (var e in _ioEvents) e?.Dispose();
        _vectors.Dispose();
        _device.Dispose();
        GC.SuppressFinalize(this);
    }
}
