namespace PluginVmm.Sdk.Pci;

/// <summary>The kind of address a BAR decodes.</summary>
public enum PciBarKind
{
    /// <summary>I/O port space (placed in the PIO window).</summary>
    Io,
    /// <summary>32-bit memory BAR (placed in the 32-bit MMIO hole).</summary>
    Memory32,
    /// <summary>64-bit memory BAR, occupying two BAR slots (placed in the 64-bit device area).</summary>
    Memory64,
    /// <summary>Expansion ROM BAR (config register 0x30, 32-bit, enabled by its bit 0).</summary>
    Rom,
}
