namespace PluginVmm.Core.Memory;

/// <summary>
/// The x86-64 guest physical address layout (cloud-hypervisor's, arch/src/x86_64/layout.rs). RAM fills
/// [0, 3 GiB); anything beyond goes to 4 GiB and up, leaving the 32-bit device hole, ECAM, IOAPIC and LAPIC free.
/// </summary>
public static class MemoryLayout
{
    /// <summary>End of conventional low memory (the EBDA/VGA/BIOS area starts here).</summary>
    public const ulong LowMemoryEnd = 0xA_0000;

    /// <summary>Start of "high" memory where kernels load.</summary>
    public const ulong HighMemoryStart = 0x10_0000;

    /// <summary>RAM below 4 GiB ends here: the 32-bit device hole starts.</summary>
    public const ulong Mem32DeviceStart = 0xC000_0000;

    /// <summary>Size of the 32-bit PCI device MMIO hole (0xC000_0000-0xE7FF_FFFF).</summary>
    public const ulong Mem32DeviceSize = 0x2800_0000;

    /// <summary>PCI ECAM (MMCONFIG) window base.</summary>
    public const ulong EcamStart = 0xE800_0000;

    /// <summary>PCI ECAM window size (256 MiB).</summary>
    public const ulong EcamSize = 0x1000_0000;

    /// <summary>KVM TSS (three pages) for KVM_SET_TSS_ADDR.</summary>
    public const ulong KvmTssAddress = 0xF800_0000;

    /// <summary>KVM identity-map page for KVM_SET_IDENTITY_MAP_ADDR, right after the TSS.</summary>
    public const ulong KvmIdentityMapAddress = 0xF800_3000;

    /// <summary>IOAPIC MMIO.</summary>
    public const ulong IoapicStart = 0xFEC0_0000;

    /// <summary>Local APIC MMIO.</summary>
    public const ulong LapicStart = 0xFEE0_0000;

    /// <summary>RAM above the hole starts at 4 GiB.</summary>
    public const ulong HighRamStart = 0x1_0000_0000;

    /// <summary>
    /// Guest RAM ranges (start, size) for <paramref name="totalBytes"/> of RAM: at most 3 GiB from 0, the rest from 4 GiB.
    /// </summary>
    public static IReadOnlyList<(ulong Start, ulong Size)> RamRanges(ulong totalBytes)
    {
        if (totalBytes == 0) throw new ArgumentOutOfRangeException(nameof(totalBytes), "guest RAM size is zero");
        ulong low = Math.Min(totalBytes, Mem32DeviceStart);
        if (low == totalBytes) return [(0, low)];
        ulong high = totalBytes - low;
        if (high > ulong.MaxValue - HighRamStart)
            throw new ArgumentOutOfRangeException(nameof(totalBytes), $"0x{totalBytes:x} bytes of RAM do not fit in the address space");
        return [(0, low), (HighRamStart, high)];
    }
}
