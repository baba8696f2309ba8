namespace PluginVmm.Sdk.Resources;

/// <summary>
/// Resources a device attaches to one of its BARs. The core owns them and moves them when the guest relocates
/// the BAR, as one step of the relocation transaction, so a device never has to remap them itself.
/// </summary>
public interface IBarResources
{
    /// <summary>Maps <paramref name="size"/> bytes of a file shared (MAP_SHARED), extending the file if shorter.</summary>
    IHostMemory MapFile(string path, ulong size, bool readOnly = false);

    /// <summary>Maps <paramref name="size"/> bytes of <paramref name="fd"/> at <paramref name="offset"/> (VFIO regions).</summary>
    IHostMemory MapFd(int fd, long offset, ulong size, bool readOnly = false);

    /// <summary>
    /// Makes <paramref name="memory"/> appear in the guest at BAR <paramref name="barIndex"/> + <paramref name="offset"/>
    /// as RAM-speed memory (a KVM memory slot). Dispose the result to remove it.
    /// </summary>
    IDisposable MapIntoBar(int barIndex, ulong offset, IHostMemory memory, bool readOnly = false);

    /// <summary>Registers an eventfd signalled on guest writes of <paramref name="length"/> bytes at the BAR offset.</summary>
    IIoEvent AddIoEvent(int barIndex, ulong offset, int length, ulong? dataMatch = null);
}
