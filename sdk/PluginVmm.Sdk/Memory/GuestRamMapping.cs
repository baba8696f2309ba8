namespace PluginVmm.Sdk.Memory;

/// <summary>
/// One contiguous range of guest RAM and the host virtual address of its backing, for a device that hands guest RAM
/// to a kernel that does DMA on the guest's behalf (VFIO_IOMMU_MAP_DMA with iova = guest physical address). The
/// host address is for passing to such a kernel interface only: the SDK never dereferences it, and a device must
/// reach guest bytes through <see cref="IGuestMemory"/> (bounds-checked) instead.
/// </summary>
/// <param name="GuestAddress">Guest physical address of the first byte.</param>
/// <param name="Size">Bytes in the range (a multiple of the host page size).</param>
/// <param name="HostAddress">Where the range is mapped in the VMM process, valid for the VM's lifetime.</param>
public readonly record struct GuestRamMapping(ulong GuestAddress, ulong Size, nint HostAddress);
