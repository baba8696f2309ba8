using System.Buffers.Binary;
using Xunit;

namespace PluginVmm.Tests.Kvm;

/// <summary>
/// ivshmem under the built `vmm` host: the pcitest guest moves BAR2 (a memory slot over the shared file) into the
/// 32-bit hole and writes there; the writes land in the host file, and a second VM on the same file sees them and the host's.
/// Each writer owns 64 dwords: peer a at 0x0, peer b at 0x800, the host at 0x1000 (pattern a0a0xxxx/b0b0xxxx/c0c0xxxx).
/// </summary>
public sealed class IvshmemGuestTests : IDisposable
{
    private const int GuestOk = (0x10 << 1) | 1, Words = 64;
    private readonly Config.TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Shm => _dir.Combine("shm");

    private string Device => $"[[device]]\nkind = \"ivshmem\"\npath = \"{Shm}\"\nsize_mib = 2\n";

    private static uint Pattern(int who, int i) => (0xa0a0_0000u + (uint)who * 0x1010_0000u) | (uint)i;

    private int CountPattern(int who)
    {
        var bytes = File.ReadAllBytes(Shm);
        return Enumerable.Range(0, Words).Count(i => BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(who * 0x800 + i * 4)) == Pattern(who, i));
    }

    private void WriteHostPattern()
    {
        using var f = new FileStream(Shm, FileMode.Open, FileAccess.Write);
        f.Seek(0x1000, SeekOrigin.Begin);
        var b = new byte[Words * 4];
        for (int i = 0; i < Words; i++) BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(i * 4), Pattern(2, i));
        f.Write(b);
    }

    private static void AssertSeen(PcitestRun run, int a, int b, int host)
    {
        Assert.True(run.Result.ExitCode == GuestOk, run.Result.ToString());
        Assert.True(run.Checks().All(c => c.Ok) && run.Checks().Count == 2, run.Result.ToString());
        var lines = run.Serial.Split('\n');
        Assert.Contains($"IVSHMEM seen a {a:x2}", lines);
        Assert.Contains($"IVSHMEM seen b {b:x2}", lines);
        Assert.Contains($"IVSHMEM seen host {host:x2}", lines);
    }

    [GuestFact]
    public void Guest_writes_into_bar2_land_in_the_host_file_and_a_second_vm_sees_them_and_the_hosts()
    {
        var first = PcitestRun.Boot(_dir, "ivshmem-a", Device, config: "a.toml");
        AssertSeen(first, 0, 0, 0);                 // a fresh (zero-filled, created by the plugin) file
        Assert.Equal(Words, CountPattern(0));       // the guest's BAR2 writes are in the file

        WriteHostPattern();
        var second = PcitestRun.Boot(_dir, "ivshmem-b", Device, config: "b.toml");
        AssertSeen(second, Words, 0, Words);        // peer a's writes and the host's
        Assert.Equal(Words, CountPattern(1));
        Assert.Equal(Words, CountPattern(0));       // and nothing of a's was lost
    }

    [GuestFact]
    public void Two_vms_running_at_once_on_one_file_both_write_it()
    {
        var runs = new[] { "ivshmem-a", "ivshmem-b" }.AsParallel().WithDegreeOfParallelism(2)
            .Select(mode => PcitestRun.Boot(_dir, mode, Device, config: mode + ".toml")).ToList();
        foreach (var run in runs)
            Assert.True(run.Result.ExitCode == GuestOk && run.Checks().All(c => c.Ok), run.Result.ToString());
        Assert.Equal(Words, CountPattern(0));
        Assert.Equal(Words, CountPattern(1));
    }
}
