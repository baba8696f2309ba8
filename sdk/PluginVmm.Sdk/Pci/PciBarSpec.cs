namespace PluginVmm.Sdk.Pci;

/// <summary>
/// A BAR a device needs. The core allocates an address for it (naturally aligned, in the window of its kind)
/// and hands it over with <see cref="IPciDevice.AssignBar"/>.
/// </summary>
/// <param name="Index">0..5, or <see cref="PciBarIndex.Rom"/>. A 64-bit BAR also uses slot Index+1.</param>
/// <param name="Size">Bytes; a power of two, at least 16 for memory, 4 for I/O, 2048 for ROM.</param>
/// <param name="Kind">Address space and width.</param>
/// <param name="Prefetchable">Sets the prefetchable bit of a memory BAR.</param>
public sealed record PciBarSpec(int Index, ulong Size, PciBarKind Kind, bool Prefetchable = false)
{
    /// <summary>Checks the spec's own rules; returns an error text or null.</summary>
    public string? Validate()
    {
        if (!PciBarIndex.IsValid(Index)) return $"BAR index {Index} is not 0..5 or ROM";
        if (Kind == PciBarKind.Rom && Index != PciBarIndex.Rom) return "a ROM BAR must use PciBarIndex.Rom";
        if (Kind != PciBarKind.Rom && Index == PciBarIndex.Rom) return "PciBarIndex.Rom is only for a ROM BAR";
        if (Kind == PciBarKind.Memory64 && Index > 4) return "a 64-bit BAR needs two slots (index 0..4)";
        if (Size == 0 || (Size & (Size - 1)) != 0) return $"BAR size 0x{Size:x} is not a power of two";
        ulong min = Kind switch { PciBarKind.Io => 4UL, PciBarKind.Rom => 2048UL, _ => 16UL };
        if (Size < min) return $"BAR size 0x{Size:x} is below the minimum 0x{min:x} for {Kind}";
        if (Kind is PciBarKind.Memory32 or PciBarKind.Rom && Size > 0x8000_0000UL) return "32-bit BAR larger than 2 GiB";
        if (Kind == PciBarKind.Io && Size > 0x1_0000UL) return "I/O BAR larger than 64 KiB";
        return null;
    }
}
