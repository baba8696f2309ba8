using System.Diagnostics;

namespace PluginVmm.Core.Hosting;

/// <summary>
/// Start-up profiling without a profiler: with <c>PLUGINVMM_STARTUP_TRACE=1</c> each <see cref="Mark"/> prints
/// <c>startup +12.3 ms what</c> to stderr, counted from the first mark (the start of Main); the first line also
/// gives the time the process had already spent before it (runtime start, from /proc, 10 ms resolution).
/// Each line also counts the methods the JIT compiled so far and its time. Off, a mark is one static bool test. Used for BENCHMARKS.md.
/// </summary>
public static class StartupTrace
{
    private static readonly bool Enabled = Environment.GetEnvironmentVariable("PLUGINVMM_STARTUP_TRACE") == "1";
    private static long _start;

    /// <summary>Records that <paramref name="what"/> just happened.</summary>
    public static void Mark(string what)
    {
        if (!Enabled) return;
        if (_start == 0)
        {
            _start = Stopwatch.GetTimestamp();
            Console.Error.WriteLine($"startup: process began ~{SinceProcessStartMs()} ms before the first mark");
        }
        // JIT work so far: what ReadyToRun did not cover (generic instantiations across assemblies, stubs, plugins)
        Console.Error.WriteLine($"startup +{Stopwatch.GetElapsedTime(_start).TotalMilliseconds:F1} ms {what} " +
            $"(jitted {System.Runtime.JitInfo.GetCompiledMethodCount()} methods, " +
            $"{System.Runtime.JitInfo.GetCompilationTime().TotalMilliseconds:F0} ms)");
    }

    /// <summary>Uptime now minus the process start time (field 22 of /proc/self/stat, in clock ticks of 10 ms).</summary>
    private static long SinceProcessStartMs()
    {
        try
        {
            var stat = File.ReadAllText("/proc/self/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var startTicks = long.Parse(fields[19], System.Globalization.CultureInfo.InvariantCulture);
            var uptime = double.Parse(File.ReadAllText("/proc/uptime").Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            return (long)(uptime * 1000) - startTicks * 10;
        }
        catch (Exception e) when (e is IOException or FormatException or IndexOutOfRangeException)
        {
            return -1;
        }
    }
}
