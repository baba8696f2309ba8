using PluginVmm.Core.Pci;
using PluginVmm.Sdk.Resources;

namespace PluginVmm.Tests.Pci.Fakes;

/// <summary>An eventfd stand-in: a counter.</summary>
public sealed class CountingEvent(int fd) : IIoEvent
{
    public ulong Counter { get; set; }

    public bool Disposed { get; private set; }

    public int Fd { get; } = fd;

    public bool TryConsume(out ulong count)
    {
        count = Counter;
        Counter = 0;
        return count != 0;
    }

    public void Dispose() => Disposed = true;
}

/// <summary>KVM_IOEVENTFD replaced by a recorder of registrations.</summary>
public sealed class RecordingIoEvents(FaultInjector faults) : IIoEventRegistrar
{
    private int _nextFd = 1000;

    public List<(BusSpace Space, ulong Address, int Length, ulong? DataMatch, IIoEvent Event)> Registered { get; } = [];

    public IIoEvent CreateEventFd() => new CountingEvent(_nextFd++);

    public void Register(BusSpace space, ulong address, int length, ulong? dataMatch, IIoEvent eventFd)
    {
        faults.Step($"register ioevent {space} 0x{address:x}");
        if (Registered.Any(r => r.Space == space && r.Address == address && r.DataMatch == dataMatch))
            throw new InvalidOperationException("ioeventfd already registered there");
        Registered.Add((space, address, length, dataMatch, eventFd));
    }

    public void Unregister(BusSpace space, ulong address, int length, ulong? dataMatch, IIoEvent eventFd)
    {
        faults.Step($"unregister ioevent {space} 0x{address:x}");
        int i = Registered.FindIndex(r => r.Space == space && r.Address == address && r.Length == length && r.DataMatch == dataMatch && r.Event == eventFd);
        if (i < 0) throw new InvalidOperationException("ioeventfd not registered there");
        Registered.RemoveAt(i);
    }

    /// <summary>What KVM would do on a guest write: signal a matching eventfd.</summary>
    public bool Signal(BusSpace space, ulong address)
    {
        var hit = Registered.FirstOrDefault(r => r.Space == space && r.Address == address);
        if (hit.Event is not CountingEvent e) return false;
        e.Counter++;
        return true;
    }
}
