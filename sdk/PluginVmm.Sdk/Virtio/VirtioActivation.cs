using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Resources;

namespace PluginVmm.Sdk.Virtio;

/// <summary>What a device gets when the driver sets DRIVER_OK.</summary>
public sealed class VirtioActivation
{
    private readonly Action<string> _fail;
    private readonly Action _configChanged;
    private readonly Func<int, IIoEvent?> _takeDoorbell;

    /// <summary>Creates an activation whose doorbells the transport serves (tests may create one too).</summary>
    public VirtioActivation(ulong features, IGuestMemory memory, IReadOnlyList<SplitVirtqueue?> queues, Action<string> fail, Action configChanged)
        : this(features, memory, queues, fail, configChanged, _ => null)
    {
    }

    /// <summary>
    /// Creates an activation (the transport does); <paramref name="takeDoorbell"/> answers <see cref="TakeDoorbell"/>.
    /// </summary>
    public VirtioActivation(ulong features, IGuestMemory memory, IReadOnlyList<SplitVirtqueue?> queues, Action<string> fail, Action configChanged,
        Func<int, IIoEvent?> takeDoorbell)
    {
        Features = features;
        Memory = memory;
        Queues = queues;
        _fail = fail;
        _configChanged = configChanged;
        _takeDoorbell = takeDoorbell;
    }

    /// <summary>The features the driver accepted.</summary>
    public ulong Features { get; }

    /// <summary>Guest RAM.</summary>
    public IGuestMemory Memory { get; }

    /// <summary>Queues by index; null for a queue the driver did not enable.</summary>
    public IReadOnlyList<SplitVirtqueue?> Queues { get; }

    /// <summary>True when feature bit(s) <paramref name="mask"/> were all negotiated.</summary>
    public bool Has(ulong mask) => (Features & mask) == mask;

    /// <summary>
    /// The device cannot go on (a broken ring, a backend failure): sets DEVICE_NEEDS_RESET, raises the config
    /// interrupt and stops delivering notifications. Safe from any thread.
    /// </summary>
    public void Fail(string reason) => _fail(reason);

    /// <summary>
    /// Hands queue <paramref name="queue"/>'s doorbell ioeventfd to the device, to wait on together with its own
    /// descriptors in one thread (virtio-net polls the TAP and both doorbells at once, as QEMU's main loop does:
    /// one wake-up for whatever is ready, and one thread fewer competing with the vCPUs). The transport then starts
    /// no thread for that queue. Call it only from <see cref="IVirtioDevice.Activate"/>; the event stays the
    /// transport's (do not dispose it) and is valid until <see cref="IVirtioDevice.Reset"/>. Returns null when the
    /// queue has no pollable ioeventfd: its doorbells keep coming as <see cref="IVirtioDevice.QueueNotified"/>. So
    /// may a doorbell that reaches the device as an MMIO exit (while the core re-registers it for a moved BAR), on a
    /// vCPU thread, even for a queue whose doorbell the device took.
    /// </summary>
    public IIoEvent? TakeDoorbell(int queue) => _takeDoorbell(queue);

    /// <summary>Config space changed (link status): bumps config_generation and raises the config interrupt.</summary>
    public void ConfigChanged() => _configChanged();
}
