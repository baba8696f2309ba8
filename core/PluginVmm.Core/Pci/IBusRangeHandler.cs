namespace PluginVmm.Core.Pci;

/// <summary>
/// Handles guest accesses inside one mapped range (a BAR, the 0xCF8 ports, the ECAM window). Offsets are relative
/// to the start of the range the handler was mapped at. Never throws: every access has a defined outcome.
/// </summary>
public interface IBusRangeHandler
{
    /// <summary>A guest read of data.Length bytes at <paramref name="offset"/>.</summary>
    void Read(ulong offset, Span<byte> data);

    /// <summary>A guest write of data.Length bytes at <paramref name="offset"/>.</summary>
    void Write(ulong offset, ReadOnlySpan<byte> data);
}
