using PluginVmm.Sdk.Resources;

namespace PluginVmm.Core.Pci;

/// <summary>
/// ioeventfds: KVM signals an eventfd on a guest write at an address, without a VM exit to the device. Implemented
/// by the VM wiring over eventfd(2) and KVM_IOEVENTFD; tests use an in-process recorder.
/// </summary>
public interface IIoEventRegistrar
{
    /// <summary>Creates an eventfd (not yet registered anywhere).</summary>
    IIoEvent CreateEventFd();

    /// <summary>Signals <paramref name="eventFd"/> on guest writes of <paramref name="length"/> bytes at <paramref name="address"/>. Throws on failure.</summary>
    void Register(BusSpace space, ulong address, int length, ulong? dataMatch, IIoEvent eventFd);

    /// <summary>Undoes exactly one <see cref="Register"/> with the same arguments. Throws on failure.</summary>
    void Unregister(BusSpace space, ulong address, int length, ulong? dataMatch, IIoEvent eventFd);
}
