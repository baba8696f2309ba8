using System.Diagnostics;
using CsCheck;

namespace PluginVmm.Tests.Fuzz;

/// <summary>
/// Runs a property over a fixed, reproducible set of generated inputs and shrinks a failure with CsCheck.
/// <para>
/// CsCheck's own <c>Sample</c> draws every input after the first from a per-thread random seed, so two runs of the
/// suite would test different inputs. Here input i of a target is generated from a PCG seeded by (target seed, i):
/// every <c>./test</c> run tests the same inputs. When one fails, CsCheck takes over from that input's seed and
/// searches smaller inputs (its size-based shrinking), then reports the smallest failing input with the seed that
/// reproduces it.
/// </para>
/// <para>
/// Scaling: <c>PLUGINVMM_FUZZ_SCALE</c> (default 1) multiplies the number of inputs; fuzz/run-properties.sh sets it.
/// Each run prints "fuzz: target ... cases in ... s = N cases/s" (visible with a detailed console logger).
/// </para>
/// </summary>
public static class PropertyRunner
{
    /// <summary>Extra random inputs CsCheck tries when shrinking a failure.</summary>
    public const long ShrinkIterations = 20_000;

    /// <summary>The input-count multiplier from PLUGINVMM_FUZZ_SCALE (at least 1).</summary>
    public static int Scale
    {
        get
        {
            string? text = Environment.GetEnvironmentVariable("PLUGINVMM_FUZZ_SCALE");
            return int.TryParse(text, out int scale) && scale > 0 ? scale : 1;
        }
    }

    /// <summary>
    /// Checks <paramref name="property"/> on <paramref name="inputs"/> × <see cref="Scale"/> inputs of
    /// <paramref name="gen"/>; <paramref name="casesPerInput"/> says how many counted cases one input is (for
    /// operation sequences, the operations). Throws a <see cref="CsCheckException"/> with the shrunk input on failure.
    /// Returns the number of cases run.
    /// </summary>
    public static long Check<T>(string target, ulong seed, Gen<T> gen, long inputs, Func<T, long> casesPerInput,
        Action<T> property, Func<T, string> print, Action<string> log)
    {
        long total = inputs * Scale;
        long cases = 0;
        var clock = Stopwatch.StartNew();
        for (long i = 0; i < total; i++)
        {
            var pcg = new PCG((uint)(seed ^ (seed >> 32)) | 1, seed * 0x9E37_79B9_7F4A_7C15UL + (ulong)i);
            ulong state = pcg.State;
            var input = gen.Generate(pcg, null, out _);
            try
            {
                property(input);
            }
            catch (Exception e)
            {
                log($"fuzz: {target}: input {i} failed ({e.GetType().Name}: {e.Message}); shrinking");
                string start = pcg.ToString(state);
                gen.Sample(property, writeLine: log, seed: start, iter: ShrinkIterations, threads: 1, print: print);
                throw new InvalidOperationException($"{target}: input {i} (seed \"{start}\") failed but did not fail again when replayed: {e}", e);
            }
            cases += casesPerInput(input);
        }
        clock.Stop();
        double seconds = Math.Max(clock.Elapsed.TotalSeconds, 1e-6);
        log($"fuzz: {target}: {cases} cases ({total} inputs) in {seconds:F1} s = {cases / seconds:F0} cases/s");
        return cases;
    }
}
