using System.Runtime.InteropServices;
using PluginVmm.Core.Interop;
using PluginVmm.Sdk.Memory;

namespace PluginVmm.Core.Memory;

/// <summary>
/// <see cref="IGuestMemoryControl"/> over the VM's <see cref="GuestMemory"/>: every request is checked to be a
/// non-empty, page-aligned, non-wrapping range wholly inside one RAM region before its host address is computed, so
/// the system calls only ever reach the guest's own anonymous mappings (never ivshmem files, VFIO regions or VMM
/// memory). Results are 0 or errno; nothing throws for guest values.
/// <para>
/// Operations that change a mapping's flags (names, mlock, mprotect, DONTDUMP, KSM) split the guest RAM mapping
/// into more VMAs. A guest alternating them page by page could use up the process's vm.max_map_count, after which
/// the VMM's own mmaps (the .NET GC's) fail. So each such call may add at most two VMAs from an allowance that
/// keeps the process at or below half of max_map_count, re-measured from /proc/self/maps when it runs out; beyond
/// it the call answers ENOMEM (as the kernel does at its limit). Dropping pages (DONTNEED, FREE, PAGEOUT, REMOVE)
/// never splits and is never refused for this.
/// </para>
/// </summary>
public sealed unsafe class GuestMemoryControl : IGuestMemoryControl
{
    private readonly GuestMemory _memory;
    private readonly int _mapCountLimit;
    private readonly Func<int> _countMappings;
    private long _splitAllowance;
    private volatile string? _discardDisabledBy;

    /// <summary>Control over <paramref name="memory"/>, keeping the VMA count under half of vm.max_map_count.</summary>
    public GuestMemoryControl(GuestMemory memory) : this(memory, ReadMaxMapCount() / 2, CountMappings)
    {
    }

    /// <summary>
    /// Control over <paramref name="memory"/> that keeps the process at or below <paramref name="mapCountLimit"/> VMAs
    /// as <paramref name="countMappings"/> measures them (tests pass a deterministic counter).
    /// </summary>
    internal GuestMemoryControl(GuestMemory memory, int mapCountLimit, Func<int> countMappings)
    {
        _memory = memory;
        _mapCountLimit = mapCountLimit;
        _countMappings = countMappings;
    }

    /// <inheritdoc/>
    public ulong PageSize { get; } = (ulong)Environment.SystemPageSize;

    /// <summary>
    /// Refuses, from now on, advice that drops guest pages (DONTNEED, REMOVE, FREE, PAGEOUT) with EBUSY: guest RAM is
    /// pinned for device DMA (VFIO maps it into the IOMMU), and a dropped page would be replaced by a fresh one the
    /// IOMMU does not know, so the device would keep writing the old one. QEMU inhibits its balloon for the same
    /// reason. <paramref name="by"/> names who pinned it.
    /// </summary>
    public void DisableDiscard(string by) => _discardDisabledBy ??= by;

    /// <summary>Who disabled discarding (null while it is allowed).</summary>
    public string? DiscardDisabledBy => _discardDisabledBy;

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
        if (_discardDisabledBy is not null && advice is GuestMemoryAdvice.DontNeed or GuestMemoryAdvice.Remove
                or GuestMemoryAdvice.Free or GuestMemoryAdvice.PageOut)
            return Errno.EBUSY;
        bool splits = advice is GuestMemoryAdvice.DontDump or GuestMemoryAdvice.Mergeable or GuestMemoryAdvice.Unmergeable;
        return OnRange(address, length, (p, n) => LibC.Madvise(p, n, madv), splits);
    }

    /// <inheritdoc/>
    public int SetName(ulong address, ulong length, string? name) =>
        OnRange(address, length, (p, n) => LibC.PrctlSetVmaName(LibC.PR_SET_VMA, LibC.PR_SET_VMA_ANON_NAME, p, n, name), splits: true);

    /// <inheritdoc/>
    public int Lock(ulong address, ulong length, bool onFault) =>
        OnRange(address, length, (p, n) => LibC.Mlock2(p, n, onFault ? LibC.MLOCK_ONFAULT : 0), splits: true);

    /// <inheritdoc/>
    public int Unlock(ulong address, ulong length) => OnRange(address, length, LibC.Munlock, splits: true);

    /// <inheritdoc/>
    public int Protect(ulong address, ulong length, GuestMemoryProtection protection)
    {
        if (!TryResolve(address, length, out _)) return Errno.EINVAL;
        // Only the normal protection: see IGuestMemoryControl.Protect for why less access is refused.
        if (protection != GuestMemoryProtection.ReadWrite) return Errno.EPERM;
        return OnRange(address, length, (p, n) => LibC.Mprotect(p, n, LibC.PROT_READ | LibC.PROT_WRITE), splits: true);
    }

    private delegate int RangeCall(void* address, nuint length);

    private int OnRange(ulong address, ulong length, RangeCall call, bool splits = false)
    {
        if (!TryResolve(address, length, out nint host)) return Errno.EINVAL;
        if (splits && !TakeSplitAllowance()) return Errno.ENOMEM;
        int rc = call((void*)host, (nuint)length);
        return rc == 0 ? 0 : Math.Max(Marshal.GetLastPInvokeError(), 1);
    }

    /// <summary>Room for one call that may add two VMAs; re-measures the process's VMAs when the allowance is used up.</summary>
    private bool TakeSplitAllowance()
    {
        if (_splitAllowance <= 0) _splitAllowance = Math.Max(0, _mapCountLimit - _countMappings()) / 2;
        if (_splitAllowance <= 0) return false;
        _splitAllowance--;
        return true;
    }

    private static int CountMappings()
    {
        try
        {
            return File.ReadLines("/proc/self/maps").Count();
        }
        catch (IOException)
        {
            return int.MaxValue; // cannot tell: refuse splitting rather than risk the VMM's own mmaps
        }
    }

    private static int ReadMaxMapCount()
    {
        try
        {
            return int.TryParse(File.ReadAllText("/proc/sys/vm/max_map_count").Trim(), out int n) && n > 0 ? n : 65530;
        }
        catch (IOException)
        {
            return 65530; // the kernel default
        }
    }

    /// <summary>The host address of [address, address + length) when it is a valid page range inside one RAM region.</summary>
    private bool TryResolve(ulong address, ulong length, out nint host)
    {
        host = 0;
        if (!GuestPageRange.IsValid(address, length, PageSize)) return false;
        foreach (var r in _memory.Regions)
        {
            if (!r.Contains(address, length)) continue;
            host = r.HostAddress + (nint)(address - r.GuestAddress);
            return true;
        }
        return false;
    }
}
