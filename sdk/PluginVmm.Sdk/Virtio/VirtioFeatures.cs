namespace PluginVmm.Sdk.Virtio;

/// <summary>Device-independent feature bits and device status bits (virtio 1.2 §2.1, §6).</summary>
public static class VirtioFeatures
{
    /// <summary>VIRTIO_F_RING_INDIRECT_DESC (28): descriptors may point at indirect tables.</summary>
    public const ulong RingIndirectDesc = 1UL << 28;

    /// <summary>VIRTIO_F_RING_EVENT_IDX (29): used_event / avail_event suppression.</summary>
    public const ulong RingEventIdx = 1UL << 29;

    /// <summary>VIRTIO_F_VERSION_1 (32): a modern (1.x) device; required by this transport.</summary>
    public const ulong Version1 = 1UL << 32;

    /// <summary>What <see cref="VirtioPciTransport"/> and <see cref="SplitVirtqueue"/> implement for every device.</summary>
    public const ulong Transport = RingIndirectDesc | RingEventIdx | Version1;
}

/// <summary>device_status bits (virtio 1.2 §2.1).</summary>
public static class VirtioStatus
{
    /// <summary>The guest found the device.</summary>
    public const byte Acknowledge = 1;

    /// <summary>The guest has a driver for it.</summary>
    public const byte Driver = 2;

    /// <summary>The driver is ready; queues run.</summary>
    public const byte DriverOk = 4;

    /// <summary>Feature negotiation is complete (the device clears it again if it refuses the features).</summary>
    public const byte FeaturesOk = 8;

    /// <summary>The device hit an error it cannot recover from without a reset.</summary>
    public const byte DeviceNeedsReset = 0x40;

    /// <summary>The driver gave up on the device.</summary>
    public const byte Failed = 0x80;
}
