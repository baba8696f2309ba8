using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PluginVmm.Plugins.Vfio;
using PluginVmm.Sdk.Interrupts;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Resources;
using PluginVmm.Sdk.Testing;
using Xunit;

namespace PluginVmm.Tests.Vfio;

/// <summary>
/// The passthrough device's config-space rules over a fake host function: what is forwarded, what is shadowed (BARs,
/// ROM, COMMAND), what is emulated (MSI-X Message Control, the MSI capability, the MSI-X table), and fencing on host
/// errors. The same code runs over the real VFIO function in the sandbox's vfio scenario.
/// </summary>
public sealed class VfioDeviceTests
{
    private sealed class Context(IInterruptController interrupts) : IDeviceContext
    {
        public string Name => "vfio0";
        public IGuestMemory Memory { get; } = new InMemoryGuestMemory(0x1000);
        public IInterruptController Interrupts => interrupts;
        public FakeBarResources Resources { get; } = new();
        public IBarResources BarResources => Resources;
        public IVmControl Vm { get; } = new RecordingVmControl();
        public ILogger Logger => NullLogger.Instance;
    }

    /// <summary>A function like a NIC: BAR0 32-bit MMIO, BAR2 64-bit with the MSI-X table (8 vectors) and PBA, MSI too.</summary>
    private static FakeVfioFunction NicLike()
    {
        var f = new FakeVfioFunction(0x8086, 0x10d3);
        f.SetRegion(0, 0x2_0000);
        f.SetRegion(2, 0x4000);
        f.Config32(0x10, 0xFEB0_0000);
        f.Config32(0x18, 0x0000_000C);
        f.AddCapability(0x40, VfioCapabilities.MsiId, (byte)(0x80 | (3 << 1)), 0);
        f.AddCapability(0x60, VfioCapabilities.MsixId, 7, 0, 0x02, 0x30, 0, 0, 0x02, 0x38, 0, 0);
        f.Config32(0x2C, 0x1234_8086);
        f.IrqCounts[VfioIrq.Msi] = 8;
        f.IrqCounts[VfioIrq.Msix] = 8;
        return f;
    }

    private static (VfioDevice Device, PciConfigDriver Driver, EventFdInterrupts Irqs) Open(FakeVfioFunction f)
    {
        var irqs = new EventFdInterrupts();
        var device = new VfioDevice(new Context(irqs), f);
        var driver = new PciConfigDriver(device);
        driver.AssignBars();
        return (device, driver, irqs);
    }

    private static void LastIrqSet(FakeVfioFunction f, int irq, IEnumerable<int> fds)
    {
        Assert.Equal(irq, f.IrqSets[^1].Irq);
        Assert.Equal(fds, f.IrqSets[^1].Fds);
    }

    [Fact]
    public void Identity_and_bars_mirror_the_host_and_other_registers_are_forwarded()
    {
        var f = NicLike();
        var (device, driver, _) = Open(f);
        Assert.Equal(0x10d3_8086u, driver.Read32(0));
        Assert.Equal([new PciBarSpec(0, 0x2_0000, PciBarKind.Memory32), new PciBarSpec(2, 0x4000, PciBarKind.Memory64, true)], device.Bars);
        f.Config32(0xA0, 0xCAFE_F00D);                    // a vendor register changes on the host: the guest sees it
        Assert.Equal(0xCAFE_F00Du, driver.Read32(0xA0));
        driver.Write32(0xA4, 0x1122_3344);                // and guest writes reach the host
        Assert.Contains(f.Writes, w => w.Region == VfioRegion.Config && w.Offset == 0xA4);
    }

    [Fact]
    public void Bar_writes_stay_in_the_shadow_and_move_through_the_core()
    {
        var f = NicLike();
        var (_, driver, _) = Open(f);
        ulong bar0 = driver.BarAddress(0);
        driver.EnableDecoding();
        driver.RefuseLikeTheCore();
        driver.Write32(0x10, 0xFEE0_0000);                // the LAPIC: refused, rolled back
        Assert.Equal(bar0, driver.BarAddress(0));
        driver.Write32(0x10, (uint)bar0 + 0x10_0000);     // a legal move
        Assert.Equal(bar0 + 0x10_0000, driver.BarAddress(0));
        Assert.DoesNotContain(f.Writes, w => w.Offset is >= 0x10 and < 0x28 or 0x30);
        Assert.Equal(0xFEB0_0000u, BitConverter.ToUInt32(f.Config, 0x10)); // the host BAR was never touched
    }

    [Fact]
    public void Command_is_shadowed_and_forwarded_and_status_comes_from_the_host()
    {
        var f = NicLike();
        var (device, driver, _) = Open(f);
        f.Config16(6, 0x0010 | 0x2000);                   // capabilities list + a host status bit
        driver.Write16(4, 0x0006);
        Assert.True(device.Configuration.MemoryDecodeEnabled);
        Assert.Equal(0x0006, BitConverter.ToUInt16(f.Config, 4));
        Assert.Equal(0x2010_0006u, driver.Read32(4));
    }

    [Fact]
    public void Msix_control_is_emulated_and_enable_wires_the_vectors_eventfds()
    {
        var f = NicLike();
        var (device, driver, irqs) = Open(f);
        Assert.Equal(0x0007, driver.Read16(0x62));        // table size from the host, Enable clear
        driver.Write16(0x62, 0xC000);                    // Enable + Function Mask
        Assert.Equal(0xC007, driver.Read16(0x62));
        Assert.DoesNotContain(f.Writes, w => w.Offset is >= 0x60 and < 0x6C); // never forwarded
        var msix = irqs.Groups[0];
        LastIrqSet(f, VfioIrq.Msix, Enumerable.Range(100, 8).ToArray());

        // the table is ours: program vector 3 and unmask everything
        const ulong table = 0x3000;   // BAR offsets, as the core passes them
        device.WriteBar(2, table + 3 * 16, BitConverter.GetBytes(0xFEE0_1000u));
        device.WriteBar(2, table + 3 * 16 + 8, BitConverter.GetBytes(0x41u));
        device.WriteBar(2, table + 3 * 16 + 12, BitConverter.GetBytes(0u));
        driver.Write16(0x62, 0x8000);
        Assert.Equal((new MsiMessage(0xFEE0_1000, 0x41), false), msix.Routes[3]);
        Assert.DoesNotContain(f.Writes, w => w.Region == 2);

        driver.Write16(0x62, 0);                          // disable: the host interrupts are switched off
        LastIrqSet(f, VfioIrq.Msix, Array.Empty<int>());
    }

    [Fact]
    public void Bar_accesses_outside_the_msix_table_go_to_the_region()
    {
        var f = NicLike();
        var (device, _, _) = Open(f);
        BitConverter.GetBytes(0x0102_0304u).CopyTo(f.Contents(0), 0x100);
        var data = new byte[4];
        device.ReadBar(0, 0x100, data);
        Assert.Equal(0x0102_0304u, BitConverter.ToUInt32(data));
        device.WriteBar(2, 0x100, BitConverter.GetBytes(7u));
        Assert.Equal(7u, BitConverter.ToUInt32(f.Contents(2), 0x100));
    }

    [Fact]
    public void Msi_is_emulated_and_enable_routes_and_wires_the_enabled_vectors()
    {
        var f = NicLike();
        var (_, driver, irqs) = Open(f);
        driver.Write32(0x44, 0xFEE0_2000);               // address low
        driver.Write32(0x48, 0);                         // address high (64-bit capability)
        driver.Write16(0x4C, 0x60);                      // data
        driver.Write16(0x42, 0x0021);                    // Enable, 4 vectors (MME = 2)
        Assert.Equal(0xFEE0_2000u, driver.Read32(0x44));
        Assert.Equal(0x0021 | 0x80 | (3 << 1), driver.Read16(0x42));
        Assert.DoesNotContain(f.Writes, w => w.Offset is >= 0x40 and < 0x50);
        var msi = irqs.Groups[1];
        Assert.Equal((new MsiMessage(0xFEE0_2000, 0x62), false), msi.Routes[2]);   // vector 2: data | 2
        Assert.True(msi.Routes[5].Masked);                                       // beyond the 4 enabled
        LastIrqSet(f, VfioIrq.Msi, new[] { 200, 201, 202, 203 });
    }

    [Fact]
    public void A_host_error_fences_the_device_without_an_exception()
    {
        var f = NicLike();
        var (device, driver, _) = Open(f);
        f.FailAll = true;
        var data = new byte[4];
        device.ReadBar(0, 0, data);
        Assert.Equal(0xFFFF_FFFFu, BitConverter.ToUInt32(data));
        Assert.True(device.Fenced);
        f.FailAll = false;
        Assert.Equal(0xFFFF_FFFFu, driver.Read32(0));    // stays fenced: all ones, writes dropped
        driver.Write32(0xA4, 1);
        Assert.Empty(f.Writes);
    }

    [Fact]
    public void Extended_config_space_the_host_lacks_reads_zero_and_drops_writes_without_fencing()
    {
        var f = NicLike();                               // 256 bytes: conventional config space only
        var (device, driver, _) = Open(f);
        Assert.Equal(0u, driver.Read32(0x100));
        driver.Write32(0x100, 0x1234);
        Assert.False(device.Fenced);
        Assert.Empty(f.Writes);
    }

    [Fact]
    public void Dispose_switches_host_interrupts_off_and_closes_the_function()
    {
        var f = NicLike();
        var (device, driver, _) = Open(f);
        driver.Write16(0x62, 0x8000);
        device.Dispose();
        LastIrqSet(f, VfioIrq.Msix, Array.Empty<int>());
        Assert.True(f.Disposed);
    }

    [Fact]
    public void Opening_a_missing_host_device_names_it()
    {
        // the real VfioHostFunction, on whatever host this runs: no such function exists
        var e = Assert.Throws<VfioSetupException>(() => VfioHostFunction.Open("0000:ff:1f.7", []));
        Assert.Contains("0000:ff:1f.7", e.Message);
    }

    [NonVfioPciFunctionFact]
    public void Opening_a_host_device_not_bound_to_vfio_pci_says_how_to_bind_it()
    {
        string other = NonVfioPciFunctionFactAttribute.Address!;
        var e = Assert.Throws<VfioSetupException>(() => VfioHostFunction.Open(other, []));
        Assert.Contains(other, e.Message);
        Assert.Contains("driver_override", e.Message);
    }
}

/// <summary>A fact that needs a host PCI function not bound to vfio-pci (to be refused); skipped, saying so, without one.</summary>
public sealed class NonVfioPciFunctionFactAttribute : FactAttribute
{
    private const string Devices = "/sys/bus/pci/devices";

    /// <summary>The first host PCI function whose driver is not vfio-pci (or that has none), or null.</summary>
    public static string? Address { get; } = Directory.Exists(Devices)
        ? Directory.GetDirectories(Devices).Select(Path.GetFileName).Order(StringComparer.Ordinal)
            .FirstOrDefault(a => new FileInfo($"{Devices}/{a}/driver").LinkTarget is not { } t || Path.GetFileName(t) != "vfio-pci")
        : null;

    public NonVfioPciFunctionFactAttribute()
    {
        if (Address is null) Skip = $"this host has no PCI function outside vfio-pci to try ({Devices} lists none)";
    }
}
