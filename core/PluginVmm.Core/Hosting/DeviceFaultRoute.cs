using PluginVmm.Core.Pci;

namespace PluginVmm.Core.Hosting;

/// <summary>
/// Where a device's asynchronous faults (its workers' exceptions) go: the PCI root fences the device. The device
/// can start workers in its plugin's Create, before it has a slot, so a fault reported then is kept and the device
/// is fenced the moment it is attached.
/// </summary>
internal sealed class DeviceFaultRoute
{
    private readonly Lock _lock = new();
    private PciRoot? _root;
    private int _slot;
    private string? _pending;

    /// <summary>Fences the device (now, or at <see cref="Attach"/>).</summary>
    public void Report(string reason)
    {
        PciRoot? root;
        lock (_lock)
        {
            root = _root;
            if (root is null)
            {
                _pending ??= reason;
                return;
            }
        }
        root.Fence(_slot, reason);
    }

    /// <summary>The device now sits in <paramref name="slot"/> of <paramref name="root"/>.</summary>
    public void Attach(PciRoot root, int slot)
    {
        string? pending;
        lock (_lock)
        {
            _root = root;
            _slot = slot;
            pending = _pending;
        }
        if (pending is not null) root.Fence(slot, pending);
    }
}
