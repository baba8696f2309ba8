using PluginVmm.Sdk.Diagnostics;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;

namespace PluginVmm.Sdk.Virtio;

/// <summary>
/// The PCI face of a modern (non-transitional) virtio device: IDs, class, a 64-bit BAR0 laid out per
/// <see cref="VirtioPciLayout"/>, the virtio capabilities and MSI-X. The queue transport behind BAR0 is not yet
/// implemented: accesses are answered with zeros and logged once as not functional.
/// </summary>
public class VirtioPciFunction : PciDevice
{
    private readonly OnceWarning _notFunctional;

    /// <summary>Creates the function for virtio device type <paramref name="virtioType"/> with <paramref name="queues"/> queues.</summary>
    public VirtioPciFunction(IDeviceContext context, ushort virtioType, byte classCode, byte subclass, int queues, uint deviceConfigLength)
        : base(BuildConfiguration(virtioType, classCode, subclass, queues, deviceConfigLength))
    {
        _notFunctional = new OnceWarning(context.Logger,
            $"{context.Name}: the virtio transport is not functional yet; BAR0 accesses read zero and writes are dropped");
    }

    private static PciConfiguration BuildConfiguration(ushort virtioType, byte classCode, byte subclass, int queues, uint deviceConfigLength)
    {
        ushort deviceId = (ushort)(VirtioPciLayout.DeviceIdBase + virtioType);
        var config = new PciConfiguration(VirtioPciLayout.VendorId, deviceId, classCode, subclass, revision: 1,
            subsystemVendorId: VirtioPciLayout.VendorId, subsystemId: deviceId);
        config.AddBar(new PciBarSpec(0, VirtioPciLayout.BarSize, PciBarKind.Memory64));
        PciCapabilities.AddVirtio(config, VirtioPciLayout.CommonCfg, 0, VirtioPciLayout.CommonOffset, VirtioPciLayout.CommonLength);
        PciCapabilities.AddVirtio(config, VirtioPciLayout.IsrCfg, 0, VirtioPciLayout.IsrOffset, VirtioPciLayout.IsrLength);
        if (deviceConfigLength > 0)
            PciCapabilities.AddVirtio(config, VirtioPciLayout.DeviceCfg, 0, VirtioPciLayout.DeviceConfigOffset, deviceConfigLength);
        PciCapabilities.AddVirtio(config, VirtioPciLayout.NotifyCfg, 0, VirtioPciLayout.NotifyOffset,
            (uint)queues * VirtioPciLayout.NotifyMultiplier, VirtioPciLayout.NotifyMultiplier);
        PciCapabilities.AddMsix(config, queues + 1, 0, VirtioPciLayout.MsixTableOffset, VirtioPciLayout.MsixPbaOffset);
        return config;
    }

    /// <inheritdoc/>
    public override void ReadBar(int index, ulong offset, Span<byte> data)
    {
        data.Clear();
        _notFunctional.Hit($"read at BAR{index}+0x{offset:x}");
    }

    /// <inheritdoc/>
    public override void WriteBar(int index, ulong offset, ReadOnlySpan<byte> data) =>
        _notFunctional.Hit($"write at BAR{index}+0x{offset:x}");
}
