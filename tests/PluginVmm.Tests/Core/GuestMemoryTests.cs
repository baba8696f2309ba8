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
