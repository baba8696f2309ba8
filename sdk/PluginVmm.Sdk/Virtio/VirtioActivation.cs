using PluginVmm.Sdk.Memory;

namespace PluginVmm.Sdk.Virtio;

/// <summary>What a device gets when the driver sets DRIVER_OK.</summary>
public sealed class VirtioActivation
{
    private readonly Action<string> _fail;
    private readonly Action _configChanged;

    /// <summary>Creates an activation (the transport does; tests may too).</summary>
    public VirtioActivation(ulong features, IGuestMemory memory, IReadOnlyList<SplitVirtqueue?> queues, Action<string> fail, Action configChanged)
    {
        Features = features;
        Memory = memory;
        Queues = queues;
        _fail = fail;
        _configChanged = configChanged;
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

    /// <summary>Config space changed (link status): bumps config_generation and raises the config interrupt.</summary>
    public void ConfigChanged() => _configChanged();
}
