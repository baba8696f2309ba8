namespace PluginVmm.Core.Buses;

/// <summary>
/// A device range on the PIO or MMIO bus. The bus passes the offset from the base the handler was registered
/// at, so a handler never needs to know where it was placed (BARs move).
/// <para>
/// Handlers run on vCPU threads, possibly several at once, and get guest-chosen offsets and sizes (1, 2, 4 or 8
/// bytes; PIO at most 4). They should not throw; if one does, the bus logs it and the access completes as an
/// unhandled one (reads return all-ones, writes are dropped).
/// </para>
/// </summary>
public interface IBusHandler
{
    /// <summary>A guest read of data.Length bytes at <paramref name="offset"/> from the registered base.</summary>
    void Read(ulong offset, Span<byte> data);

    /// <summary>A guest write of data.Length bytes at <paramref name="offset"/> from the registered base.</summary>
    void Write(ulong offset, ReadOnlySpan<byte> data);
}
