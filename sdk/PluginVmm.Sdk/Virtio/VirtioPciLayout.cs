namespace PluginVmm.Sdk.Virtio;

/// <summary>
/// Where the modern virtio-pci transport puts its structures in BAR0 (virtio 1.x, §4.1.4). Regions sit 8 KiB
/// apart so each can be handled (or mapped) on its own page.
/// </summary>
public static class VirtioPciLayout
{
    /// <summary>PCI vendor of virtio devices.</summary>
    public const ushort VendorId = 0x1AF4;

    /// <summary>Modern device ID = 0x1040 + virtio device type.</summary>
    public const ushort DeviceIdBase = 0x1040;

    /// <summary>BAR0 size (the layout below, rounded up to a power of two).</summary>
    public const ulong BarSize = 0x8_0000;

    /// <summary>Common configuration structure.</summary>
    public const uint CommonOffset = 0x0000, CommonLength = 0x38;

    /// <summary>ISR status byte.</summary>
    public const uint IsrOffset = 0x2000, IsrLength = 0x1;

    /// <summary>Device-specific configuration.</summary>
    public const uint DeviceConfigOffset = 0x4000, DeviceConfigMaxLength = 0x1000;

    /// <summary>Queue notification doorbells, <see cref="NotifyMultiplier"/> bytes per queue.</summary>
    public const uint NotifyOffset = 0x6000, NotifyMultiplier = 4;

    /// <summary>MSI-X table (16 bytes per vector).</summary>
    public const uint MsixTableOffset = 0x8000;

    /// <summary>MSI-X pending-bit array.</summary>
    public const uint MsixPbaOffset = 0x4_8000;

    /// <summary>virtio_pci_cap cfg_type values.</summary>
    public const byte CommonCfg = 1, NotifyCfg = 2, IsrCfg = 3, DeviceCfg = 4, PciCfg = 5;

    /// <summary>Virtio device types used by the bundled plugins.</summary>
    public const ushort TypeNet = 1, TypeBlock = 2;
}
