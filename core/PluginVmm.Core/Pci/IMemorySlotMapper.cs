using PluginVmm.Sdk.Resources;

namespace PluginVmm.Core.Pci;

/// <summary>
/// KVM memory slots for host memory shown inside BARs, and the host mappings behind them. Implemented by the VM
/// wiring over KVM_SET_USER_MEMORY_REGION and mmap; tests use an in-process recorder.
/// </summary>
public interface IMemorySlotMapper
{
    /// <summary>Maps a file shared (MAP_SHARED), extending it when shorter.</summary>
    IHostMemory MapFile(string path, ulong size, bool readOnly);

    /// <summary>Maps <paramref name="size"/> bytes of <paramref name="fd"/> at <paramref name="offset"/>.</summary>
    IHostMemory MapFd(int fd, long offset, ulong size, bool readOnly);

    /// <summary>
    /// Makes <paramref name="memory"/> (from <see cref="MapFile"/>/<see cref="MapFd"/>) appear at guest physical
    /// <paramref name="guestAddress"/>. Returns a slot handle. Throws, adding nothing, on failure.
    /// </summary>
    int AddSlot(ulong guestAddress, IHostMemory memory, bool readOnly);

    /// <summary>Removes the slot. Throws on failure.</summary>
    void RemoveSlot(int slot);
}
