namespace PluginVmm.Core.Memory;

/// <summary>One contiguous piece of guest RAM and where it is mapped in this process (for KVM memory slots).</summary>
public sealed record GuestMemoryRegion(ulong GuestAddress, ulong Size, nint HostAddress)
{
    /// <summary>First guest address after the region.</summary>
    public ulong End => GuestAddress + Size;

    /// <summary>True when [address, address + length) lies inside the region (length 0: address in [start, end]).</summary>
    public bool Contains(ulong address, ulong length) =>
        address >= GuestAddress && length <= Size && address - GuestAddress <= Size - length;
}
