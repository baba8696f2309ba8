using System.Buffers.Binary;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Virtio;

namespace Acme.Faulty;

/// <summary>
/// PCI 1234:fa17 with one 4 KiB BAR0 whose first dword reads 0x0fa17fa1; throws <see cref="FaultException"/> from the
/// callback its fault option names. With "worker" a guest write to BAR0 makes the device's worker thread
/// (started through <see cref="IDeviceContext.StartWorker"/>) throw; with "own-thread" it makes a thread the device
/// started itself, unguarded, throw.
/// </summary>
internal sealed class FaultyDevice : PciDevice, IPciDevice, IDisposable
{
    public const uint Marker = 0x0FA1_7FA1;
    private const int DeviceSpecificRegister = 0x40 / 4;
    private static readonly TimeSpan WorkerWait = TimeSpan.FromSeconds(10);
    private readonly string _fault;
    private readonly SemaphoreSlim _kick = new(0);
    private readonly IDeviceWorker? _worker;

    public FaultyDevice(string fault, IDeviceContext context) : base(BuildConfiguration())
    {
        _fault = fault;
        if (fault == "worker") _worker = context.StartWorker("kicks", WorkerLoop);
    }

    private void WorkerLoop(CancellationToken stop)
    {
        _kick.Wait(stop);
        throw new FaultException("acme-faulty: worker failed on purpose");
    }

    private static PciConfiguration BuildConfiguration()
    {
        var config = new PciConfiguration(0x1234, 0xFA17, classCode: 0xFF, subclass: 0x00);
        config.AddBar(new PciBarSpec(0, 0x1000, PciBarKind.Memory32));
        config.SetRegister(DeviceSpecificRegister, 0x1234_5678, 0xFFFF_FFFF);
        return config;
    }

    private void Maybe(string callback)
    {
        if (_fault == callback) throw new FaultException($"acme-faulty: {callback} failed on purpose");
    }

    public override uint ReadConfigRegister(int register)
    {
        if (register == DeviceSpecificRegister) Maybe("config-read");
        return base.ReadConfigRegister(register);
    }

    protected override void OnConfigWritten(int register, int offset, ReadOnlySpan<byte> data)
    {
        if (register == DeviceSpecificRegister) Maybe("config-write");
    }

    public override void ReadBar(int index, ulong offset, Span<byte> data)
    {
        Maybe("bar-read");
        Span<byte> value = stackalloc byte[8];
        if (offset == 0) BinaryPrimitives.WriteUInt32LittleEndian(value, Marker);
        value[..Math.Min(8, data.Length)].CopyTo(data);
    }

    public override void WriteBar(int index, ulong offset, ReadOnlySpan<byte> data)
    {
        Maybe("bar-write");
        if (_worker is not null && _worker.IsRunning)
        {
            _kick.Release();
            // wait until the fault is handled, so that what the guest does next sees its outcome
            _worker.Join(WorkerWait);
        }
        if (_fault == "own-thread")
        {
            var thread = new Thread(() => throw new FaultException("acme-faulty: own thread failed on purpose")) { Name = "acme-faulty raw" };
            thread.Start();
            thread.Join(WorkerWait);
        }
    }

    public void Dispose()
    {
        _worker?.Dispose();
        _kick.Dispose();
    }

    protected override void OnBarMoving(BarReprogrammingParams move) => Maybe("move-bar");

    // PciDevice.AssignBar is not virtual (the base keeps BAR bookkeeping right); re-implementing the interface member
    // lets the sample throw where the core calls it.
    void IPciDevice.AssignBar(int index, ulong address)
    {
        Maybe("assign-bar");
        AssignBar(index, address);
    }
}

/// <summary>Thrown by the sample on purpose.</summary>
public sealed class FaultException(string message) : Exception(message);

/// <summary>A virtio device (type 42, one queue) whose queue processing throws.</summary>
internal sealed class FaultyVirtioDevice : IVirtioDevice
{
    public ushort DeviceType => 42;
    public ulong DeviceFeatures => 0;
    public int QueueCount => 1;
    public ushort MaxQueueSize(int queue) => 16;
    public uint ConfigLength => 0;
    public void ReadConfig(uint offset, Span<byte> data) => data.Clear();
    public void WriteConfig(uint offset, ReadOnlySpan<byte> data) { }
    public void Activate(VirtioActivation activation) { }
    public void QueueNotified(int queue) => throw new FaultException("acme-faulty: queue processing failed on purpose");
    public void Reset() { }
    public void Dispose() { }
}
