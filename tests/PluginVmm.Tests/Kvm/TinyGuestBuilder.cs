using System.Collections.Concurrent;
using System.Diagnostics;

namespace PluginVmm.Tests.Kvm;

/// <summary>
/// Compiles a tiny guest from tests/guests/&lt;name&gt;/ (all .c and .S files) plus tests/guests/lib into a PVH ELF,
/// once per test run, in a temp folder. Needs gcc with -m32 support.
/// </summary>
public static class TinyGuestBuilder
{
    private static readonly ConcurrentDictionary<string, Lazy<string>> Built = new();
    private static readonly string OutputRoot = Path.Combine(Path.GetTempPath(), $"pluginvmm-guests-{Environment.ProcessId}");

    /// <summary>tests/guests in the source tree.</summary>
    public static string GuestsDirectory { get; } = FindGuestsDirectory();

    /// <summary>Path of the built ELF for guest <paramref name="name"/>; throws with the compiler output on failure.</summary>
    public static string Build(string name) => Built.GetOrAdd(name, n => new Lazy<string>(() => Compile(n))).Value;

    private static string Compile(string name)
    {
        string src = Path.Combine(GuestsDirectory, name);
        string lib = Path.Combine(GuestsDirectory, "lib");
        if (!Directory.Exists(src)) throw new DirectoryNotFoundException($"no tiny guest sources at {src}");
        Directory.CreateDirectory(OutputRoot);
        string output = Path.Combine(OutputRoot, name + ".elf");
        var sources = Directory.GetFiles(src, "*.c").Concat(Directory.GetFiles(src, "*.S")).Order(StringComparer.Ordinal);
        var args = new List<string>
        {
            "-m32", "-O2", "-ffreestanding", "-fno-pic", "-fno-stack-protector", "-mgeneral-regs-only", "-nostdlib",
            "-fno-asynchronous-unwind-tables", "-static", "-no-pie", "-Wl,--build-id=none", "-Wl,--no-warn-rwx-segments",
            "-Wl,-T," + Path.Combine(lib, "guest.ld"), "-I", lib, "-o", output, Path.Combine(lib, "start.S"),
        };
        args.AddRange(sources);
        var psi = new ProcessStartInfo("gcc") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start gcc");
        string stderr = p.StandardError.ReadToEnd();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"building tiny guest '{name}' failed:\n{stderr}");
        return output;
    }

    private static string FindGuestsDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "guests");
            if (Directory.Exists(Path.Combine(candidate, "lib"))) return candidate;
        }
        throw new DirectoryNotFoundException($"tests/guests not found above {AppContext.BaseDirectory}");
    }
}
