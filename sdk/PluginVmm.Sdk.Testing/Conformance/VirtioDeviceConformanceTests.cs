using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Virtio;
using Xunit;

namespace PluginVmm.Sdk.Testing.Conformance;

/// <summary>
/// <see cref="PciDeviceConformanceTests"/> plus the rules of a modern virtio-pci function (virtio 1.2 §4.1): its
/// identity and capabilities, feature negotiation, a notification on an empty queue, and reset. Supply the
/// function (normally a <see cref="VirtioPciTransport"/> over your <see cref="IVirtioDevice"/>) in CreateDevice.
/// </summary>
public abstract class VirtioDeviceConformanceTests : PciDeviceConformanceTests
{
    private VirtioPciDriver? _virtio;

    /// <summary>A guest-side virtio driver over the device (BAR0 programmed, memory decoding on).</summary>
    protected VirtioPciDriver Virtio => _virtio ??= new VirtioPciDriver(Driver.Device, Memory, Context.FakeResources);

    /// <summary>IDs 1af4:1040+type with revision 1 or later, and common, notify and ISR capabilities inside declared BARs, plus MSI-X.</summary>
    [ConformanceFact]
    public void Virtio_identity_and_capabilities()
    {
        var d = Driver;
        Assert.Equal(VirtioPciLayout.VendorId, d.Read16(0x00));
        Assert.InRange(d.Read16(0x02), VirtioPciLayout.DeviceIdBase + 1, 0x107F);
        Assert.True(d.Read8(0x08) >= 1, "a modern virtio-pci function has revision 1 or later");
        var types = new HashSet<byte>();
        foreach (var (offset, id) in d.Capabilities())
        {
            if (id != PciCapabilities.VendorId) continue;
            byte type = d.Read8(offset + 3), bar = d.Read8(offset + 4);
            uint at = d.Read32(offset + 8), length = d.Read32(offset + 12);
            types.Add(type);
            if (type == VirtioPciLayout.PciCfg) continue;
            var spec = Device.Bars.SingleOrDefault(b => b.Index == bar);
            Assert.True(spec is not null, $"virtio capability type {type} points at BAR{bar}, which the device does not declare");
            Assert.True((ulong)at + length <= spec.Size, $"virtio capability type {type} [0x{at:x}, +0x{length:x}) runs past BAR{bar} (0x{spec.Size:x} bytes)");
        }
        Assert.Contains(VirtioPciLayout.CommonCfg, types);
        Assert.Contains(VirtioPciLayout.NotifyCfg, types);
        Assert.Contains(VirtioPciLayout.IsrCfg, types);
        Assert.True(d.FindCapability(PciCapabilities.MsixId) >= 0, "no MSI-X capability");
    }

    /// <summary>FEATURES_OK sticks for the offered features with VERSION_1 and is refused without VERSION_1.</summary>
    [ConformanceFact]
    public void Feature_negotiation_requires_version_1()
    {
        var v = Virtio;
        ulong offered = v.DeviceFeatures();
        Assert.True((offered & VirtioFeatures.Version1) != 0, "VIRTIO_F_VERSION_1 is not offered");
        Assert.False(v.Negotiate(offered & ~VirtioFeatures.Version1, force: true), "FEATURES_OK stuck without VIRTIO_F_VERSION_1");
        Assert.True(v.Negotiate(offered), "FEATURES_OK refused for the offered features");
    }

    /// <summary>After DRIVER_OK, a notification on an empty queue is harmless.</summary>
    [ConformanceFact]
    public void Notifying_an_empty_queue_does_not_fail_the_device()
    {
        var v = StartQueue0();
        v.Kick(0, forceMmio: true);
        Assert.Equal(0, v.Status & VirtioStatus.DeviceNeedsReset);
    }

    /// <summary>Writing 0 to device_status resets: status, queue enable and driver features read 0, and the driver can start again.</summary>
    [ConformanceFact]
    public void Reset_returns_the_device_to_its_initial_state()
    {
        var v = StartQueue0();
        v.Status = 0;
        Assert.Equal(0, v.Status);
        v.WriteCommon(0x16, 0, 2);                 // queue_select 0
        Assert.Equal(0UL, v.ReadCommon(0x1C, 2));  // queue_enable
        Assert.Equal(v.QueueMaxSize(0), (ushort)v.ReadCommon(0x18, 2));
        v.WriteCommon(0x08, 0, 4);
        Assert.Equal(0UL, v.ReadCommon(0x0C, 4));  // driver_feature
        StartQueue0();
        Assert.Equal(0, v.Status & VirtioStatus.DeviceNeedsReset);
    }

    private VirtioPciDriver StartQueue0()
    {
        var v = Virtio;
        Assert.True(v.Negotiate(v.DeviceFeatures()), "FEATURES_OK refused for the offered features");
        v.EnableMsix();
        v.SetupQueue(0, Math.Min((ushort)16, v.QueueMaxSize(0)), 0x1_0000, 1);
        v.DriverOk();
        Assert.True((v.Status & VirtioStatus.DriverOk) != 0, "DRIVER_OK did not stick");
        Assert.Equal(0, v.Status & VirtioStatus.DeviceNeedsReset);
        return v;
    }
}
