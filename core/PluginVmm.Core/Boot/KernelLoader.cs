using PluginVmm.Core.Memory;
using PluginVmm.Sdk.Memory;

namespace PluginVmm.Core.Boot;

/// <summary>How the boot vCPU starts: the 32-bit protected-mode state plus RBX (the PVH start info; 0 for bzImage).</summary>
public sealed record BootPlan(string Protocol, LinuxBootEntry Entry, ulong Rbx);

/// <summary>The one place the VM picks a boot protocol: PVH for an ELF with the PVH note, otherwise bzImage.</summary>
public static class KernelLoader
{
    /// <summary>
    /// Loads <paramref name="kernel"/> into <paramref name="memory"/>. Throws <see cref="PvhImageException"/> or
    /// <see cref="LinuxImageException"/> (messages meant for the user who named the kernel).
    /// </summary>
    public static BootPlan Load(IGuestMemory memory, ReadOnlySpan<byte> kernel, string cmdline,
        ReadOnlySpan<byte> initramfs, IReadOnlyList<E820Entry> memoryMap, ulong acpiRsdp = 0)
    {
        if (PvhElfImage.IsElf(kernel))
        {
            var pvh = PvhLoader.Load(memory, kernel, cmdline, initramfs, memoryMap, acpiRsdp);
            return new BootPlan("pvh", pvh.Entry, pvh.StartInfoAddress);
        }
        var linux = LinuxBzImageLoader.Load(memory, kernel, cmdline, initramfs, E820Map.AsTuples(memoryMap), acpiRsdpAddress: acpiRsdp);
        return new BootPlan("bzimage", linux.Entry, 0);
    }
}
