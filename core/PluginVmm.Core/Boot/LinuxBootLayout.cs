namespace PluginVmm.Core.Boot;

/// <summary>
/// Where the bzImage loader puts things in low guest RAM. All of it lies in [0, 0xA0000) (reported as RAM in the
/// e820 map the caller passes) except the kernel at 1 MiB and the initramfs placed high.
/// </summary>
public static class LinuxBootLayout
{
    /// <summary>GDT for the 32-bit entry (same spot cloud-hypervisor uses).</summary>
    public const ulong GdtAddress = 0x500;

    /// <summary>The zero page (struct boot_params, 4 KiB).</summary>
    public const ulong ZeroPageAddress = 0x7000;

    /// <summary>Initial stack pointer; the stack grows down towards the end of the zero page at 0x8000.</summary>
    public const ulong StackPointer = 0x8FF0;

    /// <summary>The NUL-terminated kernel command line.</summary>
    public const ulong CmdlineAddress = 0x2_0000;

    /// <summary>Command lines must end below this (the EBDA / legacy area starts at 0x9FC00).</summary>
    public const ulong CmdlineLimit = 0x9_F000;

    /// <summary>The protected-mode kernel (the part after the setup sectors) is loaded here.</summary>
    public const ulong KernelAddress = 0x10_0000;

    /// <summary>The initramfs is placed page-aligned.</summary>
    public const ulong InitramfsAlignment = 0x1000;

    /// <summary>e820 entry types (boot_params.e820_table[].type).</summary>
    public const uint E820Ram = 1, E820Reserved = 2, E820Acpi = 3, E820Nvs = 4, E820Unusable = 5;

    /// <summary>Capacity of boot_params.e820_table.</summary>
    public const int E820MaxEntries = 128;
}
