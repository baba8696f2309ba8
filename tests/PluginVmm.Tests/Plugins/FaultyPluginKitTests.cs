using PluginVmm.Core.Plugins;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Testing;
using PluginVmm.Sdk.Virtio;
using Xunit;

namespace PluginVmm.Tests.Plugins;

/// <summary>
/// samples/Acme.Faulty driven with the device test kit, as its vendor would: a virtio device whose queue
/// processing throws goes DEVICE_NEEDS_RESET (and raises the config interrupt) instead of escaping; the driver can
/// reset it and start again.
/// </summary>
[Collection(SamplePluginsCollection.Name)]
public sealed class FaultyPluginKitTests(SamplePluginBuilds builds)
{
    [CheckoutFact]
    public void Throwing_queue_processing_sets_device_needs_reset_and_reset_recovers()
    {
        using var catalog = PluginCatalog.Load(builds.FaultyPlugins);
        var plugin = catalog.Find("acme-faulty")!.Plugin;
        var options = (DeviceOptions)Activator.CreateInstance(plugin.OptionsType)!;
        plugin.OptionsType.GetProperty("Fault")!.SetValue(options, "queue");
        var memory = new InMemoryGuestMemory(1 << 20);
        var context = new TestDeviceContext(memory) { Name = "faulty0" };
        var device = plugin.Create(options, context);
        try
        {
            var driver = new VirtioPciDriver(device, memory, context.FakeResources);
            Assert.True(driver.Negotiate(driver.DeviceFeatures()));
            driver.EnableMsix();
            Assert.Equal(0, driver.SetConfigVector(0));
            var (queue, _) = driver.SetupQueue(0, 16, 0x1_0000, 1);
            driver.DriverOk();
            queue.Submit(new GuestBuffer(0x2_0000, 64, Writable: true));
            driver.Kick(0, forceMmio: true);

            Assert.NotEqual(0, driver.Status & VirtioStatus.DeviceNeedsReset);
            var vectors = context.RecordingInterrupts.Groups.Single();
            Assert.Equal(1, vectors.DeliveredCount(0)); // the config-change interrupt tells the driver
            driver.Status = 0;
            Assert.Equal(0, driver.Status);
            Assert.True(driver.Negotiate(driver.DeviceFeatures()));
        }
        finally
        {
            (device as IDisposable)?.Dispose();
        }
    }
}
