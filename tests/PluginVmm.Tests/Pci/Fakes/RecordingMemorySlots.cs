using PluginVmm.Core.Pci;
using PluginVmm.Sdk.Resources;

namespace PluginVmm.Tests.Pci.Fakes;

/// <summary>Host memory backed by a byte array.</summary>
public sealed class ArrayHostMemory(ulong size) : IHostMemory
{
    private readonly byte[] _bytes = new byte[size];

    public ulong Size => (ulong)_bytes.Length;

    public Span<byte> GetSpan(ulong offset, int length)
    {
        if (length < 0 || offset > Size || Size - offset < (ulong)length) throw new ArgumentOutOfRangeException(nameof(offset));
        return _bytes.AsSpan((int)offset, length);
    }

    public void Dispose()
    {
    }
}

/// <summary>KVM memory slots replaced by a recorder: slot id -> (guest address, memory), overlap checked.</summary>
public sealed class RecordingMemorySlots(FaultInjector faults) : IMemorySlotMapper
{
    private int _next = 100;

    public Dictionary<int, (ulong Address, IHostMemory Memory, bool ReadOnly)> Slots { get; } = [];

    public IHostMemory MapFile(string path, ulong size, bool readOnly) => new ArrayHostMemory(size);

    public IHostMemory MapFd(int fd, long offset, ulong size, bool readOnly) => new ArrayHostMemory(size);

    public int AddSlot(ulong guestAddress, IHostMemory memory, bool readOnly)
    {
        faults.Step($"add slot 0x{guestAddress:x}");
        var range = AddressRange.FromBaseSize(guestAddress, memory.Size);
        if (Slots.Values.Any(s => AddressRange.FromBaseSize(s.Address, s.Memory.Size).Overlaps(range)))
            throw new InvalidOperationException($"slot {range} overlaps another slot");
        Slots[_next] = (guestAddress, memory, readOnly);
        return _next++;
    }

    public void RemoveSlot(int slot)
    {
        faults.Step($"remove slot {slot}");
        if (!Slots.Remove(slot)) throw new InvalidOperationException($"no slot {slot}");
    }
}
