using Microsoft.Extensions.Logging;
using PluginVmm.Core.Pci;
using PluginVmm.Core.Vm;

namespace PluginVmm.Core.Hosting;

/// <summary>Puts a PCI root on a VM: windows from the guest's physical address width, config access on 0xCF8 and ECAM.</summary>
public static class PciHost
{
    /// <summary>Creates the root for <paramref name="vm"/> and maps its config-space handlers.</summary>
    public static PciRoot Attach(VirtualMachine vm, ILoggerFactory loggerFactory)
    {
        var layout = new PciLayout(vm.Kvm.PhysAddressBits(), vm.Memory.EndAddress);
        var wiring = new KvmPciWiring(vm);
        var root = new PciRoot(layout, wiring, wiring, wiring, loggerFactory.CreateLogger("pci"));
        wiring.Map(BusSpace.Pio, PciLayout.ConfigIoPorts, root.ConfigIo);
        wiring.Map(BusSpace.Mmio, PciLayout.EcamForSegment(0), root.Ecam);
        return root;
    }
}
