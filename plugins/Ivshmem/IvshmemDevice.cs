using PluginVmm.Sdk.Diagnostics;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Resources;

namespace PluginVmm.Plugins.Ivshmem;

/// <summary>
/// ivshmem-plain: BAR0 holds the four 32-bit registers (interrupt mask/status, IV position, doorbell), which
/// are meaningless without the doorbell server and read as zero; BAR2 is the shared file, mapped into the
/// guest as a memory slot through the core, which moves it with the BAR.
/// </summary>
internal sealed class IvshmemDevice : PciDevice, IDisposable
{
    private const int RegisterBar = 0, SharedMemoryBar = 2;
    private readonly IHostMemory _shared;
    private readonly IDisposable _mapping;
    private readonly OnceWarning _registerWrites;

    public IvshmemDevice(IDeviceContext context, IHostMemory shared) : base(BuildConfiguration(shared.Size))
    {
        _shared = shared;
        _mapping = context.BarResources.MapIntoBar(SharedMemoryBar, 0, shared);
        _registerWrites = new OnceWarning(context.Logger, $"{context.Name}: ivshmem-plain has no doorbell; register writes are ignored");
    }

    private static PciConfiguration BuildConfiguration(ulong sharedSize)
    {
        var config = new PciConfiguration(0x1AF4, 0x1110, classCode: 0x05, subclass: 0x00, revision: 1);
        config.AddBar(new PciBarSpec(RegisterBar, 0x100, PciBarKind.Memory32));
        config.AddBar(new PciBarSpec(SharedMemoryBar, sharedSize, PciBarKind.Memory64, Prefetchable: true));
        return config;
    }

    public override void ReadBar(int index, ulong offset, Span<byte> data)
    {
        if (index == SharedMemoryBar && offset < _shared.Size && (ulong)data.Length <= _shared.Size - offset)
            _shared.GetSpan(offset, data.Length).CopyTo(data); // reached only while the slot is not mapped
        else
            data.Clear();
    }

    public override void WriteBar(int index, ulong offset, ReadOnlySpan<byte> data)
    {
        if (index == SharedMemoryBar && offset < _shared.Size && (ulong)data.Length <= _shared.Size - offset)
            data.CopyTo(_shared.GetSpan(offset, data.Length));
        else
            _registerWrites.Hit($"BAR{index}+0x{offset:x}");
    }

    public void Dispose()
    {
        _mapping.Dispose();
        _shared.Dispose();
    }
}
