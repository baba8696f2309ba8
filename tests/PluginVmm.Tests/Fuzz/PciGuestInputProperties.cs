using PluginVmm.Tests.Config;
using Xunit;
using Xunit.Abstractions;

namespace PluginVmm.Tests.Fuzz;

/// <summary>
/// Issue 7, target 1: no guest config or BAR access can leave the PCI layer inconsistent. Sequences of operations
/// (config reads/writes of 1, 2 and 4 bytes through ECAM and 0xCF8/0xCFC, raw port accesses, MMIO/PIO loads and
/// stores anywhere) run against the real PciRoot, allocators, BarRelocation and the six device types
/// (<see cref="PciFuzzBed"/>), and every invariant is checked after every single operation.
/// <para>
/// <b>What counts as a case:</b> one operation followed by the full invariant check. One generated input is a
/// sequence of operations on a fresh bed (so each sequence starts from a freshly attached VM); the cases of a run
/// are the operations of all its sequences: <see cref="Sequences"/> sequences × ~37 operations ≈ 1.1·10^5 cases
/// per default run (the exact count is printed), times PLUGINVMM_FUZZ_SCALE.
/// </para>
/// </summary>
public sealed class PciGuestInputProperties(ITestOutputHelper output) : IDisposable
{
    /// <summary>Sequences per default run.</summary>
    public const int Sequences = 2500;

    private const int MinChunks = 1, MaxChunks = 50;

    private readonly TempDirectory _dir = CreateDisk();

    private static TempDirectory CreateDisk()
    {
        var dir = new TempDirectory();
        dir.Write("disk.img", new string('\0', 64 << 10));
        return dir;
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void NoGuestConfigOrBarAccess_LeavesThePciLayerInconsistent()
    {
        string disk = Path.Combine(_dir.Path, "disk.img");
        long cases = PropertyRunner.Check("pci-config-and-relocation", seed: 0x7_0001,
            PciOpGen.Sequence(MinChunks, MaxChunks), Sequences, ops => ops.Length,
            ops => RunSequence(disk, ops, Coverage), PciOpGen.Print, output.WriteLine);
        output.WriteLine($"fuzz: pci-config-and-relocation: {Coverage.Moves} BAR moves carried out, {Coverage.Refused} refused ({string.Join(", ", Coverage.RefusalKinds.Select(k => $"{k.Key} {k.Value}"))}), {Coverage.Fenced} devices fenced by the host, {Coverage.Sequences} sequences");
        // A fuzzer that stops reaching relocation proves nothing: a default run carries out ~1100 moves and refuses ~5000.
        Assert.True(Coverage.Moves > cases / 200 && Coverage.Refused > cases / 50,
            $"only {Coverage.Moves} BAR moves and {Coverage.Refused} refusals in {cases} cases: the generator no longer reaches relocation");
        Assert.True(cases >= 100_000 * PropertyRunner.Scale, $"only {cases} cases ran");
    }

    /// <summary>What the runs reached (a fuzzer that never moves a BAR proves nothing).</summary>
    private sealed class Counters
    {
        public long Moves, Refused, Fenced, Sequences;
        public Dictionary<string, int> RefusalKinds { get; } = [];
    }

    private Counters Coverage { get; } = new();

    /// <summary>Runs <paramref name="ops"/> on a fresh bed, checking every invariant after each one.</summary>
    internal static void RunSequence(string diskImage, PciOp[] ops) => RunSequence(diskImage, ops, null);

    private static void RunSequence(string diskImage, PciOp[] ops, Counters? coverage)
    {
        using var bed = new PciFuzzBed(diskImage);
        bed.Check(bed.FencedNow());
        for (int i = 0; i < ops.Length; i++)
        {
            var fenced = bed.FencedNow();
            var bases = coverage is null ? null : bed.BarBases();
            bed.ResetTaps();
            try
            {
                bed.Execute(ops[i]);
                bed.Check(fenced);
            }
            catch (Exception e)
            {
                throw new FuzzInvariantException($"after operation {i} ({ops[i]}): {e.GetType().Name}: {e.Message}");
            }
            if (coverage is not null)
            {
                coverage.Moves += bed.BarBases().Zip(bases!).Count(p => p.First != p.Second);
                coverage.Fenced += bed.FencedNow().Zip(fenced).Count(p => p.First && !p.Second);
            }
        }
        if (coverage is not null)
        {
            coverage.Sequences++;
            foreach (var w in bed.Bed.Logger.At(Microsoft.Extensions.Logging.LogLevel.Warning).Where(w => w.Contains("refused")))
            {
                coverage.Refused++;
                string kind = w.Contains("not aligned") ? "misaligned" : w.Contains("outside the windows") ? "outside windows" : w.Contains("overlaps") ? "overlap" : "other";
                coverage.RefusalKinds[kind] = coverage.RefusalKinds.GetValueOrDefault(kind) + 1;
            }
        }
    }
}
