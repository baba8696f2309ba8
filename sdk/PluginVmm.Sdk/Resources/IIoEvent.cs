namespace PluginVmm.Sdk.Resources;

/// <summary>
/// An eventfd that the hypervisor signals when the guest writes at a fixed place in a BAR, without a VM exit
/// to the device (virtio queue notifications). The core keeps it at the same BAR offset when the BAR moves.
/// </summary>
public interface IIoEvent : IDisposable
{
    /// <summary>The eventfd (valid until disposed).</summary>
    int Fd { get; }

    /// <summary>Reads and clears the counter; false when it was zero.</summary>
    bool TryConsume(out ulong count);
}
