using PluginVmm.Core.Buses;
using PluginVmm.Core.Interop;
using PluginVmm.Core.Memory;
using PluginVmm.Core.Pci;
using PluginVmm.Sdk.Resources;

namespace PluginVmm.Core.Vm;

/// <summary>
/// The PCI root's view of a real VM: BAR/config mappings on the VM's PIO and MMIO buses, ioeventfds through
/// KVM_IOEVENTFD, and host memory shown in BARs as KVM memory slots.
/// </summary>
public sealed class KvmPciWiring(VirtualMachine vm) : IBarMapper, IIoEventRegistrar, IMemorySlotMapper
{
    private sealed class HandlerAdapter(IBusRangeHandler inner) : IBusHandler
    {
        public IBusRangeHandler Inner => inner;
        public void Read(ulong offset, Span<byte> data) => inner.Read(offset, data);
        public void Write(ulong offset, ReadOnlySpan<byte> data) => inner.Write(offset, data);
    }

    private Bus BusFor(BusSpace space) => space == BusSpace.Pio ? vm.Pio : vm.Mmio;

    /// <inheritdoc/>
    public void Map(BusSpace space, AddressRange range, IBusRangeHandler handler) =>
        BusFor(space).Register(range.Start, range.Length, new HandlerAdapter(handler));

    /// <inheritdoc/>
    public void Unmap(BusSpace space, AddressRange range)
    {
        var bus = BusFor(space);
        if (!bus.TryLookup(range.Start, out var r) || r.Base != range.Start || r.Length != range.Length)
            throw new InvalidOperationException($"{bus.Name}: {range} is not mapped");
        bus.Unregister(range.Start);
    }

    /// <inheritdoc/>
    public IIoEvent CreateEventFd() => new EventFd();

    /// <inheritdoc/>
    public void Register(BusSpace space, ulong address, int length, ulong? dataMatch, IIoEvent eventFd) =>
        vm.KvmVm.RegisterIoEvent(space == BusSpace.Pio, address, length, dataMatch, AsEventFd(eventFd));

    /// <inheritdoc/>
    public void Unregister(BusSpace space, ulong address, int length, ulong? dataMatch, IIoEvent eventFd) =>
        vm.KvmVm.UnregisterIoEvent(space == BusSpace.Pio, address, length, dataMatch, AsEventFd(eventFd));

    /// <inheritdoc/>
    public IHostMemory MapFile(string path, ulong size, bool readOnly) => HostMemory.MapFile(path, size, readOnly);

    /// <inheritdoc/>
    public IHostMemory MapFd(int fd, long offset, ulong size, bool readOnly) => HostMemory.MapFd(fd, offset, size, readOnly);

    /// <inheritdoc/>
    public int AddSlot(ulong guestAddress, IHostMemory memory, bool readOnly)
    {
        if (memory is not HostMemory host) throw new ArgumentException("memory slots need a mapping made by MapFile/MapFd", nameof(memory));
        return vm.KvmVm.AddMemorySlot(guestAddress, host.Size, host.HostAddress, readOnly || host.ReadOnly);
    }

    /// <inheritdoc/>
    public void RemoveSlot(int slot) => vm.KvmVm.RemoveMemorySlot(slot);

    private static EventFd AsEventFd(IIoEvent e) =>
        e as EventFd ?? throw new ArgumentException("ioeventfds must come from CreateEventFd", nameof(e));
}
