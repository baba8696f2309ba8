using PluginVmm.Core.Memory;
using PluginVmm.Sdk.Memory;
using Xunit;

namespace PluginVmm.Tests.Core;

public sealed class GuestMemoryTests
{
    [Fact]
    public void RamRanges_Above3GiB_SplitAroundThePciHole()
    {
        var r = MemoryLayout.RamRanges(4UL << 30);
        Assert.Equal([(0UL, 0xC000_0000UL), (0x1_0000_0000UL, 0x4000_0000UL)], r);
        Assert.Equal([(0UL, 64UL << 20)], MemoryLayout.RamRanges(64UL << 20));
    }

    [Fact]
    public void Each_region_lies_at_a_host_address_that_agrees_with_its_guest_address_modulo_2MiB()
    {
        // Else KVM maps the guest with 4 KiB nested page table entries only, huge pages or not. Several mappings in a
        // row: the kernel's choice would land on a 2 MiB boundary by chance one time in 512.
        const ulong huge = 2UL << 20;
        var all = new List<GuestMemory>();
        try
        {
            foreach (ulong size in new ulong[] { 64UL << 20, (3UL << 20) + 4096, 5UL << 30 })
            {
                var mem = GuestMemory.Create(size);
                all.Add(mem);
                foreach (var r in mem.Regions) Assert.Equal(r.GuestAddress % huge, (ulong)r.HostAddress % huge);
                // The whole region is usable, first byte to last.
                var last = mem.Regions[^1];
                mem.WriteU32(last.GuestAddress + last.Size - 4, 0xA5A5A5A5);
                Assert.Equal(0xA5A5A5A5u, mem.ReadU32(last.GuestAddress + last.Size - 4));
            }
        }
        finally
        {
            foreach (var m in all) m.Dispose();
        }
    }

    [Fact]
    public void Huge_page_bytes_count_only_touched_guest_ram()
    {
        using var mem = GuestMemory.Create(16UL << 20);
        Assert.Equal(0, mem.HugePageBytes());   // nothing touched yet (NORESERVE, committed on touch)
        for (ulong a = 0; a < 16UL << 20; a += 4096) mem.WriteU32(a, 1);
        Assert.InRange(mem.HugePageBytes() ?? -1, 0, 16L << 20);
    }

    [TransparentHugePagesFact]
    public void Touched_guest_ram_is_backed_by_huge_pages_where_the_host_allows_them()
    {
        using var mem = GuestMemory.Create(16UL << 20);
        for (ulong a = 0; a < 16UL << 20; a += 4096) mem.WriteU32(a, 1);
        long huge = mem.HugePageBytes() ?? -1;
        // MADV_HUGEPAGE over 2 MiB-aligned RAM: the first touch of each 2 MiB page faults in a huge page.
        Assert.True(huge >= 8L << 20,
            $"only {huge >> 10} KiB of 16 MiB touched guest RAM in huge pages (THP: {TransparentHugePagesFactAttribute.Mode})");
    }

    [Fact]
    public void Accesses_AreBoundsChecked()
    {
        using var mem = GuestMemory.Create(1 << 20);
        Assert.True(mem.TryWrite(0xFFFFC, [1, 2, 3, 4]));
        Assert.False(mem.TryWrite(0xFFFFD, [1, 2, 3, 4]));
        Assert.False(mem.TryRead(ulong.MaxValue - 1, new byte[4]));
        Assert.Equal(0x04030201u, mem.ReadU32(0xFFFFC));
        Assert.Throws<GuestMemoryException>(() => mem.GetSpan(0x100000, 1));
        Assert.Throws<GuestMemoryException>(() => mem.GetSpan(0, -1));
        Assert.True(mem.Contains(0x100000, 0));
    }

    [Fact]
    public void E820_ReportsLowRam_HighRam_AndReservedEcam()
    {
        var map = E820Map.Build([new GuestMemoryRegion(0, 0xC000_0000, 0), new GuestMemoryRegion(0x1_0000_0000, 0x1000_0000, 0)]);
        Assert.Equal(
        [
            new E820Entry(0, 0xA_0000, E820Type.Ram),
            new E820Entry(0x10_0000, 0xC000_0000 - 0x10_0000, E820Type.Ram),
            new E820Entry(0xE800_0000, 0x1000_0000, E820Type.Reserved),
            new E820Entry(0x1_0000_0000, 0x1000_0000, E820Type.Ram),
        ], map);
    }

    [Fact]
    public void HostMemory_MapFile_ExtendsAndBoundsChecks()
    {
        string path = Path.Combine(Path.GetTempPath(), $"pluginvmm-hostmem-{Guid.NewGuid():N}");
        try
        {
            using (var m = HostMemory.MapFile(path, 8192))
            {
                m.GetSpan(8190, 2)[1] = 0xAB;
                Assert.Throws<ArgumentOutOfRangeException>(() => m.GetSpan(8190, 3));
            }
            var bytes = File.ReadAllBytes(path);
            Assert.Equal(8192, bytes.Length);
            Assert.Equal(0xAB, bytes[8191]);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Aligned_scalar_writes_are_one_store_so_a_reader_on_another_thread_never_sees_one_torn()
    {
        // A ring index written by one thread (a driver publishing avail.idx) and read by another (the device): each
        // value read must be one the writer wrote. The writer flips between 0x00ff and 0x0100, so half of an update
        // reads 0x0000 or 0x01ff (byte-wise copies showed a device 0x2300 while the index went 0x23ff -> 0x2400).
        using var memory = GuestMemory.Create(1 << 20);
        const ulong Index = 0x1002;
        memory.WriteU16(Index, 0x00FF);
        var writer = new Thread(() =>
        {
            for (int i = 0; i < 2_000_000; i++) memory.WriteU16(Index, (i & 1) == 0 ? (ushort)0x0100 : (ushort)0x00FF);
        });
        writer.Start();
        int torn = 0, reads = 0;
        while (writer.IsAlive)
        {
            ushort v = memory.ReadU16(Index);
            reads++;
            if (v is not 0x00FF and not 0x0100) torn++;
        }
        writer.Join();
        Assert.True(reads > 0);
        Assert.Equal(0, torn);
    }
}

/// <summary>A fact that needs transparent huge pages on for madvised memory; skipped, saying the host's setting, otherwise.</summary>
public sealed class TransparentHugePagesFactAttribute : FactAttribute
{
    private const string Setting = "/sys/kernel/mm/transparent_hugepage/enabled";

    /// <summary>The host's THP setting as the kernel shows it (the chosen mode in brackets), or "" without one.</summary>
    public static string Mode { get; } = File.Exists(Setting) ? File.ReadAllText(Setting).Trim() : "";

    public TransparentHugePagesFactAttribute()
    {
        // "always" and "madvise" both honour the MADV_HUGEPAGE guest RAM is mapped with; "never" honours nothing.
        if (Mode.Length == 0) Skip = $"no {Setting}: this kernel has no transparent huge pages";
        else if (Mode.Contains("[never]", StringComparison.Ordinal)) Skip = $"transparent huge pages are off on this host ({Setting}: {Mode})";
    }
}
