using PluginVmm.Sdk.Pci;

namespace PluginVmm.Core.Pci;

/// <summary>The core's record of one BAR: the single source of truth that config space, the bus mapping, the
/// allocator and the BAR's resources are checked against.</summary>
internal sealed class BarRecord(PciBarSpec spec, ulong address, AddressAllocator allocator, IBusRangeHandler handler)
{
    /// <summary>Dispatches bus accesses in this BAR to the device.</summary>
    public IBusRangeHandler Handler { get; } = handler;

    public PciBarSpec Spec { get; } = spec;

    public int Index => Spec.Index;

    /// <summary>Committed base address.</summary>
    public ulong Base { get; set; } = address;

    /// <summary>The allocator holding <see cref="Range"/> (a 64-bit BAR may sit in the 32-bit hole).</summary>
    public AddressAllocator Allocator { get; set; } = allocator;

    /// <summary>The range the bus maps for this BAR now, or null (updated only after Map/Unmap succeeded).</summary>
    public AddressRange? Mapped { get; set; }

    public AddressRange Range => AddressRange.FromBaseSize(Base, Spec.Size);

    public BusSpace Space => Spec.Kind == PciBarKind.Io ? BusSpace.Pio : BusSpace.Mmio;

    public string Name => PciBarIndex.Name(Spec.Index);
}
