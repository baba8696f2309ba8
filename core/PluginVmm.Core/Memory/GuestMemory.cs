using PluginVmm.Core.Interop;
using PluginVmm.Sdk.Memory;

namespace PluginVmm.Core.Memory;

/// <summary>
/// Guest RAM as anonymous private mappings, one per <see cref="MemoryLayout.RamRanges"/> range. Every access is
/// bounds-checked against one region; nothing outside the mappings is ever reachable through this type.
/// Dispose only after every vCPU has stopped (KVM slots point at these mappings).
/// </summary>
public sealed unsafe partial class GuestMemory : IGuestMemory, IGuestMemoryFileIo, IDisposable
{
    private readonly GuestMemoryRegion[] _regions;
    private int _disposed;

    private GuestMemory(GuestMemoryRegion[] regions)
    {
        _regions = regions;
        foreach (var r in regions) TotalBytes += r.Size;
    }

    /// <summary>Maps <paramref name="totalBytes"/> (page-rounded up) of zeroed guest RAM laid out below and above the PCI hole.</summary>
    public static GuestMemory Create(ulong totalBytes)
    {
        totalBytes = (totalBytes + 0xFFF) & ~0xFFFUL;
        var ranges = MemoryLayout.RamRanges(totalBytes);
        var regions = new List<GuestMemoryRegion>();
        try
        {
            foreach (var (start, size) in ranges)
            {
                void* p = MapAligned(size);
                // Best effort: huge pages cut TLB misses; a fork (e.g. a helper process) must not copy guest RAM.
                _ = LibC.Madvise(p, (nuint)size, LibC.MADV_HUGEPAGE);
                _ = LibC.Madvise(p, (nuint)size, LibC.MADV_DONTFORK);
                regions.Add(new GuestMemoryRegion(start, size, (nint)p));
            }
        }
        catch
        {
            foreach (var r in regions) _ = LibC.Munmap((void*)r.HostAddress, (nuint)r.Size);
            throw;
        }
        return new GuestMemory([.. regions]);
    }

    // Huge pages reach the guest only when the host address and the guest address of each 2 MiB page agree modulo
    // 2 MiB: KVM maps a memslot with 2 MiB nested page table entries only then (else every guest page is a 4 KiB entry,
    // and each TLB miss of the guest walks one level more). Linux before 6.7 places an anonymous mapping at any 4 KiB
    // boundary, so map 2 MiB more and give back the unaligned head and tail (QEMU aligns its RAM the same way).
    private const ulong HugePage = 2UL << 20;

    private static void* MapAligned(ulong size)
    {
        ulong reserve = size + HugePage;
        // SAFETY: a fresh anonymous mapping; the kernel picks the address. NORESERVE: pages are committed on touch.
        void* p = LibC.Mmap(null, (nuint)reserve, LibC.PROT_READ | LibC.PROT_WRITE,
            LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS | LibC.MAP_NORESERVE, -1, 0);
        if ((nint)p == LibC.MAP_FAILED) throw ErrnoException.FromLastError($"mmap of {size >> 20} MiB guest RAM");
        ulong start = (ulong)p, aligned = (start + HugePage - 1) & ~(HugePage - 1);
        // SAFETY: both pieces lie inside the mapping just made and outside [aligned, aligned + size).
        if (aligned > start) _ = LibC.Munmap(p, (nuint)(aligned - start));
        ulong tail = start + reserve - (aligned + size);
        if (tail > 0) _ = LibC.Munmap((void*)(aligned + size), (nuint)tail);
        return (void*)aligned;
    }

    /// <summary>The RAM regions, sorted by guest address.</summary>
    public IReadOnlyList<GuestMemoryRegion> Regions => _regions;

    /// <inheritdoc/>
    public ulong TotalBytes { get; }

    /// <summary>First guest address after the highest RAM byte.</summary>
    public ulong EndAddress => _regions[^1].End;

    /// <inheritdoc/>
    public bool Contains(ulong address, ulong length) => Find(address, length) is not null;

    /// <inheritdoc/>
    public bool TryRead(ulong address, Span<byte> destination)
    {
        var r = Find(address, (ulong)destination.Length);
        if (r is null) return false;
        Slice(r, address, destination.Length).CopyTo(destination);
        return true;
    }

    /// <inheritdoc/>
    public bool TryWrite(ulong address, ReadOnlySpan<byte> source)
    {
        var r = Find(address, (ulong)source.Length);
        if (r is null) return false;
        source.CopyTo(Slice(r, address, source.Length));
        return true;
    }

    /// <inheritdoc/>
    public Span<byte> GetSpan(ulong address, int length)
    {
        if (length < 0) throw new GuestMemoryException(address, 0);
        var r = Find(address, (ulong)length) ?? throw new GuestMemoryException(address, (ulong)length);
        return Slice(r, address, length);
    }

    private GuestMemoryRegion? Find(ulong address, ulong length)
    {
        if (Volatile.Read(ref _disposed) != 0) throw new ObjectDisposedException(nameof(GuestMemory));
        foreach (var r in _regions)
            if (r.Contains(address, length)) return r;
        return null;
    }

    private static Span<byte> Slice(GuestMemoryRegion r, ulong address, int length) =>
        // SAFETY: Find checked [address, address+length) lies inside r, which stays mapped until Dispose.
        new((byte*)r.HostAddress + (address - r.GuestAddress), length);

    /// <summary>Unmaps guest RAM. Any span handed out before becomes invalid.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        foreach (var r in _regions) _ = LibC.Munmap((void*)r.HostAddress, (nuint)r.Size);
    }
}
