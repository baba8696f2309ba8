namespace PluginVmm.Core.Pci;

/// <summary>The guest address space a BAR or an ioeventfd lives in.</summary>
public enum BusSpace
{
    /// <summary>x86 I/O ports.</summary>
    Pio,
    /// <summary>Guest physical memory addresses.</summary>
    Mmio,
}
