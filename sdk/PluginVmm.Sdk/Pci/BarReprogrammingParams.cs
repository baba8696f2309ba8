namespace PluginVmm.Sdk.Pci;

/// <summary>
/// One BAR move the guest asked for. Unlike cloud-hypervisor's, it names the BAR by index (ROM included),
/// so a rollback never picks the wrong BAR when two BARs share an address.
/// </summary>
/// <param name="Index">0..5 or <see cref="PciBarIndex.Rom"/>.</param>
/// <param name="Kind">Address space and width of the BAR.</param>
/// <param name="OldBase">Address the BAR decodes now (the core's mapping).</param>
/// <param name="NewBase">Address the guest wrote.</param>
/// <param name="Length">BAR size in bytes.</param>
public readonly record struct BarReprogrammingParams(int Index, PciBarKind Kind, ulong OldBase, ulong NewBase, ulong Length)
{
    /// <inheritdoc/>
    public override string ToString() =>
        $"{PciBarIndex.Name(Index)} ({Kind}, 0x{Length:x} bytes) 0x{OldBase:x} -> 0x{NewBase:x}";
}
