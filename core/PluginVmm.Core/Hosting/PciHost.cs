using Microsoft.Extensions.Logging;
using PluginVmm.Core.Pci;
using PluginVmm.Core.Vm;

namespace PluginVmm.Core.Hosting;

/// <summary>A VM's PCI root with the layout its windows came from (the guest's physical address width and RAM end).</summary>
public sealed class PciHost
{
    private PciHost(PciRoot root, PciLayout layout)
    {
        Root = root;
        Layout = layout;
    }

    /// <summary>The root complex: config access, BAR windows, devices.</summary>
    public PciRoot Root { get; }

    /// <summary>Address layout the windows were made from (also described to the guest in ACPI).</summary>
    public PciLayout Layout { get; }

    /// <summary>Creates the root for <paramref name="vm"/> and maps its config-space handlers (0xCF8 and ECAM).</summary>
    public static PciHost Attach(VirtualMachine vm, ILoggerFactory loggerFactory)
    {
        var layout = new PciLayout(vm.Kvm.PhysAddressBits(), vm.Memory.EndAddress);
        var wiring = new KvmPciWiring(vm);
        var root = new PciRoot(layout, wiring, wiring, wiring, loggerFactory.CreateLogger("pci"));
        wiring.Map(BusSpace.Pio, PciLayout.ConfigIoPorts, root.ConfigIo);
        wiring.Map(BusSpace.Mmio, PciLayout.EcamForSegment(0), root.Ecam);
        return new PciHost(root, layout);
    }
}
