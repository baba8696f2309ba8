using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Testing;
using PluginVmm.Sdk.Testing.Conformance;
using PluginVmm.Sdk.Virtio;
using Xunit;

namespace MyDevice.Tests;

/// <summary>The PCI and virtio-pci rules every PluginVmm virtio device must follow, run against this device.</summary>
public sealed class ExampleDeviceConformance : VirtioDeviceConformanceTests
{
    protected override IPciDevice CreateDevice(TestDeviceContext context) =>
        new ExamplePlugin().Create(new ExampleOptions(), context);
}

/// <summary>The device's own behaviour, driven by the kit's guest-side virtio driver.</summary>
public sealed class ExampleDeviceTests
{
    [Fact]
    public void A_request_buffer_comes_back_filled_with_an_interrupt()
    {
        var memory = new InMemoryGuestMemory(1 << 20);
        var context = new TestDeviceContext(memory);
        var device = new ExamplePlugin().Create(new ExampleOptions { Fill = 0xA5 }, context);
        var driver = new VirtioPciDriver(device, memory, context.FakeResources);
        Assert.True(driver.Negotiate(driver.DeviceFeatures()));
        driver.EnableMsix();
        var (queue, vector) = driver.SetupQueue(0, 16, 0x1_0000, 1);
        driver.DriverOk();

        queue.Submit(new GuestBuffer(0x2_0000, 32, Writable: true));
        driver.Kick(0, forceMmio: true);

        Assert.Equal(0, driver.Status & VirtioStatus.DeviceNeedsReset);
        Assert.All(memory.Bytes.AsSpan(0x2_0000, 32).ToArray(), b => Assert.Equal(0xA5, b));
        Assert.Equal(1, context.RecordingInterrupts.Groups.Single().DeliveredCount(vector));
        (device as IDisposable)?.Dispose();
    }
}
