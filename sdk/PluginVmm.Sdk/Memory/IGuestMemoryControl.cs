namespace PluginVmm.Sdk.Memory;

/// <summary>Advice a device may give the host about the host backing of a range of guest RAM (madvise).</summary>
public enum GuestMemoryAdvice
{
    /// <summary>MADV_DONTNEED: drop the pages; the guest reads zeros there afterwards.</summary>
    DontNeed,

    /// <summary>MADV_REMOVE: free the backing store (shared/file mappings only; private RAM gets the host's EINVAL).</summary>
    Remove,

    /// <summary>MADV_FREE: the host may drop the pages lazily.</summary>
    Free,

    /// <summary>MADV_PAGEOUT: reclaim the pages now (swap them out).</summary>
    PageOut,

    /// <summary>MADV_DONTDUMP: leave the pages out of core dumps of the VMM.</summary>
    DontDump,

    /// <summary>MADV_MERGEABLE: offer the pages to KSM.</summary>
    Mergeable,

    /// <summary>MADV_UNMERGEABLE: take the pages back from KSM.</summary>
    Unmergeable,
}

/// <summary>Host page protection a device may ask for on a range of guest RAM (mprotect).</summary>
public enum GuestMemoryProtection
{
    /// <summary>PROT_NONE.</summary>
    None,

    /// <summary>PROT_READ.</summary>
    Read,

    /// <summary>PROT_WRITE.</summary>
    Write,

    /// <summary>PROT_READ | PROT_WRITE, the normal protection of guest RAM.</summary>
    ReadWrite,
}

/// <summary>
/// Control over the host mapping of guest RAM (pvmemcontrol): madvise, VMA names, mlock, mprotect on the pages that
/// back a guest-physical range. Every call takes hostile guest values and returns 0 or a Linux errno, never throws:
/// the core refuses with EINVAL (before any system call) a range that is empty, not page aligned in address or
/// length, overflowing, or not wholly inside one guest RAM region — so nothing outside the guest's own RAM is ever
/// touched — and otherwise returns the host's errno. Implementations serialise nothing: calls come from the
/// device's own (serialised) vCPU-exit handling.
/// </summary>
public interface IGuestMemoryControl
{
    /// <summary>The host page size: addresses and lengths must be multiples of it.</summary>
    ulong PageSize { get; }

    /// <summary>madvise(<paramref name="advice"/>) on the host pages backing [address, address + length).</summary>
    int Advise(ulong address, ulong length, GuestMemoryAdvice advice);

    /// <summary>Names the host mapping of the range (PR_SET_VMA_ANON_NAME); null clears the name.</summary>
    int SetName(ulong address, ulong length, string? name);

    /// <summary>mlock2 on the range; <paramref name="onFault"/> locks pages only as they are touched (MLOCK_ONFAULT).</summary>
    int Lock(ulong address, ulong length, bool onFault);

    /// <summary>munlock on the range.</summary>
    int Unlock(ulong address, ulong length);

    /// <summary>
    /// mprotect on the range. The core refuses every protection but <see cref="GuestMemoryProtection.ReadWrite"/>
    /// with EPERM: the VMM's devices and KVM access guest RAM without fault handling, so a page without read and
    /// write access would crash the VMM (SIGSEGV in a device) or fail the vCPU (KVM_RUN EFAULT) instead of
    /// affecting only the guest.
    /// </summary>
    int Protect(ulong address, ulong length, GuestMemoryProtection protection);
}

/// <summary>Linux errno values returned by <see cref="IGuestMemoryControl"/> and used in device protocols.</summary>
public static class GuestErrno
{
    /// <summary>Operation not permitted.</summary>
    public const int EPERM = 1;

    /// <summary>Out of memory (or a lock limit).</summary>
    public const int ENOMEM = 12;

    /// <summary>Bad address.</summary>
    public const int EFAULT = 14;

    /// <summary>Invalid argument.</summary>
    public const int EINVAL = 22;

    /// <summary>Function not implemented (no memory control in this host).</summary>
    public const int ENOSYS = 38;

    /// <summary>Operation not supported (unknown function code).</summary>
    public const int EOPNOTSUPP = 95;
}

/// <summary>The page-range rule of <see cref="IGuestMemoryControl"/>, shared by the core and test fakes.</summary>
public static class GuestPageRange
{
    /// <summary>
    /// True when [address, address + length) is non-empty, page aligned at both ends and does not wrap around.
    /// (Being inside guest RAM is checked separately.)
    /// </summary>
    public static bool IsValid(ulong address, ulong length, ulong pageSize) =>
        length != 0 && pageSize != 0 && address % pageSize == 0 && length % pageSize == 0 && address <= ulong.MaxValue - length;
}
