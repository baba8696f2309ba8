using PluginVmm.Sdk.Pci;

namespace PluginVmm.Core.Pci;

/// <summary>Where the core maps one BAR now (for logs, ACPI, tests).</summary>
public sealed record PciBarAssignment(int Index, PciBarKind Kind, ulong Base, ulong Size, string Window)
{
    /// <inheritdoc/>
    public override string ToString() => $"{PciBarIndex.Name(Index)} {Kind} 0x{Base:x}+0x{Size:x} ({Window})";
}
