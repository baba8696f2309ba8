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
        Directory.CreateDirectory(OutputRoot);
        // tests/guests/build.sh holds the one definition of the compiler flags; ./vmm uses it for the demo guest.
        var psi = new ProcessStartInfo("sh") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { Path.Combine(GuestsDirectory, "build.sh"), name, OutputRoot }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start sh");
        string stderr = p.StandardError.ReadToEnd();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"building tiny guest '{name}' failed:\n{stderr}");
        return Path.Combine(OutputRoot, name + ".elf");
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
