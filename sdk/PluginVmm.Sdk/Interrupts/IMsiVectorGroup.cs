namespace PluginVmm.Sdk.Interrupts;

/// <summary>
/// A device's MSI/MSI-X vectors, backed by the core's interrupt routing (KVM irqfd + MSI routes on a real VM).
/// </summary>
public interface IMsiVectorGroup : IDisposable
{
    /// <summary>Number of vectors in the group.</summary>
    int Count { get; }

    /// <summary>Installs or removes the route of one vector. Out-of-range indices are ignored.</summary>
    void Update(int vector, MsiMessage message, bool masked);

    /// <summary>Raises the vector now (no-op when masked or out of range).</summary>
    void Trigger(int vector);

    /// <summary>
    /// The eventfd behind a vector, for handing to a kernel producer (VFIO); null where the platform has none.
    /// </summary>
    int? EventFd(int vector);
}
