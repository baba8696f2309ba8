using Microsoft.Extensions.Logging;
using PluginVmm.Core.Acpi;
using PluginVmm.Core.Config;
using PluginVmm.Core.Memory;
using PluginVmm.Core.Pci;
using PluginVmm.Core.Plugins;
using PluginVmm.Core.Vm;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Pci;

namespace PluginVmm.Core.Hosting;

/// <summary>
/// Builds a VM from a validated configuration — KVM VM and platform, PCI root, one device per <c>[[device]]</c>
/// created by its plugin, kernel — runs it, and turns its end into the process exit code.
/// </summary>
public sealed class KvmVmRunner : IVmRunner
{
    /// <inheritdoc/>
    public int Run(VmConfig config, PluginCatalog catalog, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        var logger = loggerFactory.CreateLogger("vmm");
        using var vm = VirtualMachine.Create(new VmOptions
        {
            MemoryBytes = config.MemoryBytes,
            Vcpus = config.Vcpus,
            GuestPanicExitCode = ExitCodes.GuestPanic,
        }, loggerFactory);

        StartupTrace.Mark("VM created");
        var devices = new List<IDisposable>();
        try
        {
            var pci = PciHost.Attach(vm, loggerFactory);
            var root = pci.Root;
            var control = new VmControl(vm, loggerFactory.CreateLogger("guest"));
            var memoryControl = new GuestMemoryControl(vm.Memory); // checks every range against guest RAM itself
            var ramMappings = vm.Memory.Regions.Select(r => new GuestRamMapping(r.GuestAddress, r.Size, r.HostAddress)).ToArray();
            foreach (var device in config.Devices)
            {
                string plugin = PluginName(device);
                var resources = root.CreateBarResources(device.Name);
                // The category names the plugin, so whatever the device (or the SDK's virtio transport) logs says whose code it is.
                var faults = new DeviceFaultRoute();
                var context = new DeviceContext(device.Name, vm.Memory, vm.Interrupts, resources, control,
                    loggerFactory.CreateLogger($"{plugin}/{device.Name}"), memoryControl, ramMappings, faults);
                IPciDevice pciDevice;
                try
                {
                    pciDevice = device.Plugin.Create(device.Options, context) ?? throw new InvalidOperationException("Create returned null");
                }
                catch (Exception e)
                {
                    throw new DeviceStartupException(device, plugin, $"{e.GetType().Name} from Create: {e.Message}", e);
                }
                if (pciDevice is IDisposable disposable) devices.Add(disposable);
                try
                {
                    faults.Attach(root, root.AddDevice(device.Name, pciDevice, resources, plugin: plugin));
                }
                catch (PciSetupException e)
                {
                    throw new DeviceStartupException(device, plugin, e.Message, e);
                }
            }
            StartupTrace.Mark("PCI and devices attached");
            ulong rsdp = AcpiTables.Write(vm.Memory, new AcpiLayout
            {
                VcpuCount = vm.Vcpus.Count,
                Mmio64Start = pci.Layout.Mmio64Area.Start,
                Mmio64End = pci.Layout.Mmio64Area.EndInclusive,
            });
            StartupTrace.Mark("ACPI tables written");
            vm.LoadKernel(config.KernelPath, config.InitramfsPath, config.Cmdline, rsdp);
            StartupTrace.Mark("kernel loaded");
            var exit = vm.Run(cancellationToken);
            StartupTrace.Mark("VM ended");
            logger.LogInformation("guest ended: {Exit}", exit);
            return exit.ExitCode;
        }
        finally
        {
            foreach (var d in devices)
            {
                try
                {
                    d.Dispose();
                }
                catch (Exception e)
                {
                    // A plugin failing to clean up must not change how the VM ended.
                    logger.LogError("disposing {Device} threw {Type}: {Message}", d.GetType().FullName, e.GetType().Name, e.Message);
                }
            }
        }
    }

    /// <summary>The plugin assembly's simple name, as `vmm plugins` shows it.</summary>
    private static string PluginName(DeviceConfig device) => device.Plugin.GetType().Assembly.GetName().Name ?? device.Kind;
}
