namespace PluginVmm.Sdk.Pci;

/// <summary>
/// A PCI function on the VM's PCI bus. Implement it by deriving from <see cref="PciDevice"/>, which keeps config
/// space in a <see cref="PciConfiguration"/> and gets BAR detection and rollback right; implementing this
/// interface directly is possible, and the core then checks after every move and rollback that config space
/// reports what the bus maps, fencing a device that does not.
/// All calls come from vCPU threads, serialised per device by the core. Every argument carrying guest data is
/// hostile: a device must give it a defined outcome and should not throw (the core fences a device that does).
/// </summary>
public interface IPciDevice
{
    /// <summary>The BARs this device needs, fixed for its lifetime.</summary>
    IReadOnlyList<PciBarSpec> Bars { get; }

    /// <summary>Called once per BAR before the guest runs, with the address the core allocated.</summary>
    void AssignBar(int index, ulong address);

    /// <summary>Reads config dword <paramref name="register"/> (0..1023).</summary>
    uint ReadConfigRegister(int register);

    /// <summary>
    /// Writes 1, 2 or 4 bytes at byte <paramref name="offset"/> of config dword <paramref name="register"/>.
    /// Returns the BAR moves the core must now carry out (empty when none).
    /// </summary>
    IReadOnlyList<BarReprogrammingParams> WriteConfigRegister(int register, int offset, ReadOnlySpan<byte> data);

    /// <summary>A guest read at <paramref name="offset"/> inside BAR <paramref name="index"/>.</summary>
    void ReadBar(int index, ulong offset, Span<byte> data);

    /// <summary>A guest write at <paramref name="offset"/> inside BAR <paramref name="index"/>.</summary>
    void WriteBar(int index, ulong offset, ReadOnlySpan<byte> data);

    /// <summary>
    /// The device-side step of a move, called last, after the core reserved the new range and moved the bus
    /// mapping and every resource registered through <see cref="Resources.IBarResources"/>. Throwing makes
    /// the core undo every step and call <see cref="RestoreBarAddr"/>.
    /// </summary>
    void MoveBar(BarReprogrammingParams move);

    /// <summary>
    /// The move failed: config space must report <see cref="BarReprogrammingParams.OldBase"/> again for BAR
    /// <see cref="BarReprogrammingParams.Index"/> (both halves of a 64-bit BAR).
    /// </summary>
    void RestoreBarAddr(BarReprogrammingParams move);
}
