namespace PluginVmm.Core.Pci;

/// <summary>
/// What the PCI root needs from the PIO and MMIO buses: place a handler on a range and take it off again. The VM
/// wiring implements it over the real buses; tests and the fuzzer use an in-process recorder.
/// <para>
/// Contract: <see cref="Map"/> throws (and maps nothing) when the range overlaps another mapping;
/// <see cref="Unmap"/> throws when exactly that range is not mapped. Both may be called from inside a handler's
/// Read/Write (a device fenced during an access is unmapped right away), so an implementation must not hold a
/// lock while it dispatches.
/// </para>
/// </summary>
public interface IBarMapper
{
    /// <summary>Routes guest accesses in <paramref name="range"/> of <paramref name="space"/> to <paramref name="handler"/>.</summary>
    void Map(BusSpace space, AddressRange range, IBusRangeHandler handler);

    /// <summary>Removes the mapping of exactly <paramref name="range"/>.</summary>
    void Unmap(BusSpace space, AddressRange range);
}
