namespace PluginVmm.Sdk.Pci;

/// <summary>
/// Base class for PCI devices. Config space lives in <see cref="Configuration"/>; BAR assignment, move
/// bookkeeping and <see cref="RestoreBarAddr"/> are done here and cannot be forgotten or overridden by a
/// device. A device implements its BAR accesses and, when it keeps per-BAR state of its own, reacts to a move in
/// <see cref="OnBarMoving"/>.
/// </summary>
public abstract class PciDevice : IPciDevice
{
    /// <summary>Creates the device over its config space (declare BARs and capabilities on it first).</summary>
    protected PciDevice(PciConfiguration configuration) => Configuration = configuration;

    /// <summary>The device's config space.</summary>
    public PciConfiguration Configuration { get; }

    /// <inheritdoc/>
    public IReadOnlyList<PciBarSpec> Bars => Configuration.Bars;

    /// <inheritdoc/>
    public void AssignBar(int index, ulong address) => Configuration.SetBarAddress(index, address);

    /// <inheritdoc/>
    public virtual uint ReadConfigRegister(int register) => Configuration.Read(register);

    /// <inheritdoc/>
    public IReadOnlyList<BarReprogrammingParams> WriteConfigRegister(int register, int offset, ReadOnlySpan<byte> data)
    {
        var moves = Configuration.Write(register, offset, data);
        OnConfigWritten(register, offset, data);
        return moves;
    }

    /// <inheritdoc/>
    public abstract void ReadBar(int index, ulong offset, Span<byte> data);

    /// <inheritdoc/>
    public abstract void WriteBar(int index, ulong offset, ReadOnlySpan<byte> data);

    /// <inheritdoc/>
    public void MoveBar(BarReprogrammingParams move)
    {
        OnBarMoving(move);
        Configuration.CommitBarMove(move);
    }

    /// <inheritdoc/>
    public void RestoreBarAddr(BarReprogrammingParams move) => Configuration.RestoreBarAddr(move);

    /// <summary>
    /// Called after a config write was applied (capability registers, MSI-X control, COMMAND). Guest data:
    /// must not throw.
    /// </summary>
    protected virtual void OnConfigWritten(int register, int offset, ReadOnlySpan<byte> data)
    {
    }

    /// <summary>
    /// The device-side step of a move; old and new addresses are in <paramref name="move"/> (never read them
    /// back from config space). Throw to make the core undo the move.
    /// </summary>
    protected virtual void OnBarMoving(BarReprogrammingParams move)
    {
    }
}
