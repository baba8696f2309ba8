using System.Runtime.InteropServices;
using PluginVmm.Core.Interop;
using PluginVmm.Sdk.Memory;

namespace PluginVmm.Core.Memory;

/// <summary>
/// <see cref="IGuestMemoryControl"/> over the VM's <see cref="GuestMemory"/>: every request is checked to be a
/// non-empty, page-aligned, non-wrapping range wholly inside one RAM region before its host address is computed, so
/// the system calls only ever reach the guest's own anonymous mappings (never ivshmem files, VFIO regions or VMM
/// memory). Results are 0 or errno; nothing throws for guest values.
/// </summary>
public sealed unsafe class GuestMemoryControl(GuestMemory memory) : IGuestMemoryControl
{
    /// <inheritdoc/>
    public ulong PageSize { get; } = (ulong)Environment.SystemPageSize;

    /// <inheritdoc/>
    public int Advise(ulong address, ulong length, GuestMemoryAdvice advice)
    {
        int madv = advice switch
        {
            GuestMemoryAdvice.DontNeed => LibC.MADV_DONTNEED,
            GuestMemoryAdvice.Remove => LibC.MADV_REMOVE,
            GuestMemoryAdvice.Free => LibC.MADV_FREE,
            GuestMemoryAdvice.PageOut => LibC.MADV_PAGEOUT,
            GuestMemoryAdvice.DontDump => LibC.MADV_DONTDUMP,
            GuestMemoryAdvice.Mergeable => LibC.MADV_MERGEABLE,
            GuestMemoryAdvice.Unmergeable => LibC.MADV_UNMERGEABLE,
            _ => -1,
        };
        if (madv < 0) return Errno.EINVAL;
        return OnRange(address, length, (p, n) => LibC.Madvise(p, n, madv));
    }

    /// <inheritdoc/>
    public int SetName(ulong address, ulong length, string? name) =>
        OnRange(address, length, (p, n) => LibC.PrctlSetVmaName(LibC.PR_SET_VMA, LibC.PR_SET_VMA_ANON_NAME, p, n, name));

    /// <inheritdoc/>
    public int Lock(ulong address, ulong length, bool onFault) =>
        OnRange(address, length, (p, n) => LibC.Mlock2(p, n, onFault ? LibC.MLOCK_ONFAULT : 0));

    /// <inheritdoc/>
    public int Unlock(ulong address, ulong length) => OnRange(address, length, LibC.Munlock);

    /// <inheritdoc/>
    public int Protect(ulong address, ulong length, GuestMemoryProtection protection)
    {
        if (!TryResolve(address, length, out _)) return Errno.EINVAL;
        // Only the normal protection: see IGuestMemoryControl.Protect for why less access is refused.
        if (protection != GuestMemoryProtection.ReadWrite) return Errno.EPERM;
        return OnRange(address, length, (p, n) => LibC.Mprotect(p, n, LibC.PROT_READ | LibC.PROT_WRITE));
    }

    private delegate int RangeCall(void* address, nuint length);

    private int OnRange(ulong address, ulong length, RangeCall call)
    {
        if (!TryResolve(address, length, out nint host)) return Errno.EINVAL;
        int rc = call((void*)host, (nuint)length);
        return rc == 0 ? 0 : Math.Max(Marshal.GetLastPInvokeError(), 1);
    }

    /// <summary>The host address of [address, address + length) when it is a valid page range inside one RAM region.</summary>
    private bool TryResolve(ulong address, ulong length, out nint host)
    {
        host = 0;
        if (!GuestPageRange.IsValid(address, length, PageSize)) return false;
        foreach (var r in memory.Regions)
        {
            if (!r.Contains(address, length)) continue;
            host = r.HostAddress + (nint)(address - r.GuestAddress);
            return true;
        }
        return false;
    }
}
