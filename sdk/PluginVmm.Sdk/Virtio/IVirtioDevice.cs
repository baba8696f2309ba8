namespace PluginVmm.Sdk.Virtio;

/// <summary>
/// A virtio device behind <see cref="VirtioPciTransport"/>: what it offers (type, features, queues, config
/// space) and what it does once the driver is ready. The transport handles discovery, feature negotiation,
/// queue setup, notifications and interrupts; the device only sees negotiated features and working queues.
/// <para>
/// Threads: config accesses come from vCPU threads. <see cref="QueueNotified"/> comes from the transport's
/// thread for that queue (woken by the queue's ioeventfd) or, for a doorbell that reached the device as an MMIO
/// exit, from a vCPU thread; calls for one queue never overlap. A device that took a queue's doorbell
/// (<see cref="VirtioActivation.TakeDoorbell"/>) waits on it itself and gets QueueNotified for it only from MMIO exits. An exception thrown by any method is caught by
/// the transport, which sets DEVICE_NEEDS_RESET and stops the device.
/// </para>
/// </summary>
public interface IVirtioDevice : IDisposable
{
    /// <summary>Virtio device type (1 net, 2 block, ...); the PCI device ID is 0x1040 + type.</summary>
    ushort DeviceType { get; }

    /// <summary>Device-specific feature bits offered (the transport adds <see cref="VirtioFeatures.Transport"/>).</summary>
    ulong DeviceFeatures { get; }

    /// <summary>Number of queues (fixed for the device's lifetime).</summary>
    int QueueCount { get; }

    /// <summary>Largest size of queue <paramref name="queue"/> (a power of two up to 32768).</summary>
    ushort MaxQueueSize(int queue);

    /// <summary>Bytes of device-specific config space (up to <see cref="VirtioPciLayout.DeviceConfigMaxLength"/>).</summary>
    uint ConfigLength { get; }

    /// <summary>Reads config space; <paramref name="offset"/> + length is within <see cref="ConfigLength"/>.</summary>
    void ReadConfig(uint offset, Span<byte> data);

    /// <summary>Writes config space (guest data); within <see cref="ConfigLength"/>.</summary>
    void WriteConfig(uint offset, ReadOnlySpan<byte> data);

    /// <summary>The driver set DRIVER_OK: start working with the negotiated features and the enabled queues.</summary>
    void Activate(VirtioActivation activation);

    /// <summary>The driver notified queue <paramref name="queue"/> (only after <see cref="Activate"/>).</summary>
    void QueueNotified(int queue);

    /// <summary>The driver reset the device (or the transport fenced it): stop every thread and drop the queues.</summary>
    void Reset();
}
