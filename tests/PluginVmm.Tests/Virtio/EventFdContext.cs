using Microsoft.Extensions.Logging;
using PluginVmm.Core.Interop;
using PluginVmm.Sdk.Interrupts;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Resources;
using PluginVmm.Sdk.Testing;

namespace PluginVmm.Tests.Virtio;

/// <summary>
/// A <see cref="TestDeviceContext"/> whose ioeventfds are real eventfds (the core's <see cref="EventFd"/>), so a
/// device can poll them (<see cref="Sdk.Virtio.VirtioActivation.TakeDoorbell"/>); <see cref="Signal"/> does what KVM
/// does on a guest write to the doorbell. Everything else comes from the fake kit.
/// </summary>
internal sealed class EventFdContext(IGuestMemory memory, string name) : IDeviceContext, IDisposable
{
    private readonly TestDeviceContext _fake = new(memory) { Name = name };
    private readonly EventFdResources _resources = new(new FakeBarResources());

    public string Name => _fake.Name;
    public IGuestMemory Memory => _fake.Memory;
    public IInterruptController Interrupts => _fake.Interrupts;
    public RecordingInterruptController RecordingInterrupts => _fake.RecordingInterrupts;
    public IBarResources BarResources => _resources;
    public IVmControl Vm => _fake.Vm;
    public ILogger Logger => _fake.Logger;

    /// <summary>The eventfds registered, by BAR offset.</summary>
    public IReadOnlyDictionary<ulong, EventFd> IoEvents => _resources.Events;

    /// <summary>Signals the eventfd registered at BAR0 + <paramref name="offset"/>, as KVM would.</summary>
    public void Signal(ulong offset) => _resources.Events[offset].Signal();

    public void Dispose()
    {
        foreach (var e in _resources.Events.Values) e.Dispose();
    }

    private sealed class EventFdResources(FakeBarResources fake) : IBarResources
    {
        public readonly Dictionary<ulong, EventFd> Events = [];

        public IHostMemory MapFile(string path, ulong size, bool readOnly = false) => fake.MapFile(path, size, readOnly);
        public IHostMemory MapFd(int fd, long offset, ulong size, bool readOnly = false) => fake.MapFd(fd, offset, size, readOnly);
        public IDisposable MapIntoBar(int barIndex, ulong offset, IHostMemory memory, bool readOnly = false) => fake.MapIntoBar(barIndex, offset, memory, readOnly);

        public IIoEvent AddIoEvent(int barIndex, ulong offset, int length, ulong? dataMatch = null)
        {
            var e = new EventFd();
            lock (Events) Events[offset] = e;
            return new Borrowed(e);
        }
    }

    // The transport disposes its events at teardown; the context owns the eventfds and closes them last, so a test can
    // still signal one after a reset.
    private sealed class Borrowed(EventFd inner) : IIoEvent
    {
        public int Fd => inner.Fd;
        public bool TryConsume(out ulong count) => inner.TryConsume(out count);
        public bool Wait(CancellationToken cancellationToken) => inner.Wait(cancellationToken);
        public void Dispose() { }
    }
}
