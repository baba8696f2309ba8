using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Testing;
using PluginVmm.Sdk.Testing.Conformance;
using Xunit;

namespace MyDevice.Tests;

/// <summary>The config-space rules every PluginVmm PCI device must follow, run against this device.</summary>
public sealed class ExampleDeviceConformance : PciDeviceConformanceTests
{
    protected override IPciDevice CreateDevice(TestDeviceContext context) =>
        new ExamplePlugin().Create(new ExampleOptions(), context);
}

/// <summary>The device's own behaviour, driven like a guest driver would through the kit's PCI config driver.</summary>
public sealed class ExampleDeviceTests
{
    private static PciConfigDriver Start(uint scratch = 0)
    {
        var context = new TestDeviceContext(new InMemoryGuestMemory(1 << 20));
        var driver = new PciConfigDriver(new ExamplePlugin().Create(new ExampleOptions { Scratch = scratch }, context));
        driver.AssignBars();
        driver.EnableDecoding();
        return driver;
    }

    [Fact]
    public void Identity_is_the_example_device()
    {
        var driver = Start();
        Assert.Equal(ExampleDevice.VendorId, driver.Read16(0x00));
        Assert.Equal(ExampleDevice.DeviceId, driver.Read16(0x02));
        Assert.Equal(0x1000UL, driver.ProbeBarSize(0));
    }

    [Fact]
    public void Id_register_reads_back_and_ignores_writes()
    {
        var driver = Start();
        driver.BarWrite(0, 0, 0xDEAD_BEEF, 4);
        Assert.Equal(ExampleDevice.IdValue, driver.BarRead(0, 0, 4));
    }

    [Fact]
    public void Scratch_register_starts_from_the_option_and_keeps_writes()
    {
        var driver = Start(scratch: 42);
        Assert.Equal(42UL, driver.BarRead(0, 4, 4));
        driver.BarWrite(0, 4, 0x1234_5678, 4);
        Assert.Equal(0x1234_5678UL, driver.BarRead(0, 4, 4));
    }
}
