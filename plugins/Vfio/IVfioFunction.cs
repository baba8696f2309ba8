namespace PluginVmm.Plugins.Vfio;

/// <summary>
/// What <see cref="VfioDevice"/> needs of a host function opened through VFIO: its regions, region reads and writes,
/// and interrupt wiring. <see cref="VfioHostFunction"/> is the real one (ioctl, pread/pwrite on the device fd); unit
/// tests put a fake with in-memory regions beneath the device, and the sandbox's vfio scenario runs the real one.
/// Every operation reports failure with false (never throws) so the device can fence itself on a host error.
/// </summary>
internal interface IVfioFunction : IDisposable
{
    /// <summary>Host PCI address, "0000:00:01.0", for messages.</summary>
    string Address { get; }

    /// <summary>The device fd, for mmap of BAR areas (IBarResources.MapFd).</summary>
    int DeviceFd { get; }

    /// <summary>Region <paramref name="index"/> (BAR0-5, ROM, config); absent regions have size 0.</summary>
    VfioRegion Region(int index);

    /// <summary>Vectors the host supports for IRQ index <paramref name="irqIndex"/> (1 MSI, 2 MSI-X); 0 when none.</summary>
    int IrqCount(int irqIndex);

    /// <summary>Reads <paramref name="data"/>.Length bytes at <paramref name="offset"/> of the region.</summary>
    bool Read(VfioRegion region, ulong offset, Span<byte> data);

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/> of the region.</summary>
    bool Write(VfioRegion region, ulong offset, ReadOnlySpan<byte> data);

    /// <summary>
    /// VFIO_DEVICE_SET_IRQS, trigger action: the host signals eventfd <paramref name="eventFds"/>[i] for vector i of
    /// <paramref name="irqIndex"/>. An empty list disables the index.
    /// </summary>
    bool SetIrqEventFds(int irqIndex, IReadOnlyList<int> eventFds);
}

/// <summary>vfio-pci IRQ indices.</summary>
internal static class VfioIrq
{
    public const int Intx = 0, Msi = 1, Msix = 2;
}
