using System.Diagnostics;
using PluginVmm.Tests.Config;
using PluginVmm.Tests.Kvm;

namespace PluginVmm.Tests.Plugins;

/// <summary>
/// The walk through docs/writing-a-device.md that the afternoon tests share: the doc's steps before the boot run once
/// (on first use, so skipped tests cost nothing), and the boot step runs after them in the same folders.
/// Isolation: the sources are copied to a temp tree (the checkout's obj/bin are not touched); DOTNET_CLI_HOME is a
/// temp folder (the user's installed templates are not touched) and NUGET_PACKAGES too (the 1.0.0 packages built
/// here never land in the machine's package cache). The machine's package cache is offered as a package source,
/// so the restore works offline when xunit and friends are cached, and from the user's feeds otherwise.
/// Slow: it builds three packages and two projects (about two minutes).
/// </summary>
public sealed class AfternoonWalk : IDisposable
{
    public static readonly string DocPath = Path.Combine(RepoLayout.Root ?? "", "docs", "writing-a-device.md");

    private readonly Lazy<TempDirectory> _temp = new(() => new TempDirectory("pluginvmm-afternoon"));
    private readonly Lazy<ProcessRunner.Result> _steps;

    public AfternoonWalk() => _steps = new(RunSteps);

    /// <summary>The scratch folder the doc calls $WORK.</summary>
    public string Work => _temp.Value.Combine("work");

    /// <summary>The doc's steps before the boot, then the virtio template the doc points to, run once.</summary>
    internal ProcessRunner.Result Steps => _steps.Value;

    /// <summary>True for the doc block that boots the guest.</summary>
    public static bool Boots(string block) => block.Contains("vmm.dll\" run", StringComparison.Ordinal);

    /// <summary>The doc's boot step (after its first block, which sets the variables and enters $WORK).</summary>
    internal ProcessRunner.Result Boot()
    {
        var blocks = AfternoonTests.ShellBlocks(File.ReadAllText(DocPath)).ToList();
        return RunScript("boot.sh", "set -euo pipefail\n" + blocks[0] + "\n" + string.Join("\n", blocks.Skip(1).SkipWhile(b => !Boots(b))));
    }

    public void Dispose()
    {
        if (_temp.IsValueCreated) _temp.Value.Dispose();
    }

    private ProcessRunner.Result RunSteps()
    {
        var temp = _temp.Value;
        string repo = temp.Combine("repo");
        CopyTree(RepoLayout.Root!, repo, "sdk", "templates");
        foreach (var file in new[] { "Directory.Build.props", "Directory.Packages.props", "PluginVmm.sln" })
            File.Copy(Path.Combine(RepoLayout.Root!, file), Path.Combine(repo, file));
        string machineCache = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        // Read by every NuGet operation under temp (configs are merged from the working folder up).
        File.WriteAllText(temp.Combine("NuGet.Config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="machine-cache" value="{machineCache}" />
              </packageSources>
            </configuration>
            """);

        var blocks = AfternoonTests.ShellBlocks(File.ReadAllText(DocPath)).TakeWhile(b => !Boots(b));
        return RunScript("steps.sh", "set -euo pipefail\n" + string.Join("\n", blocks)
            + "\ncd \"$WORK\"\ndotnet new pluginvmm-virtio-device -n Acme.Rng -o Acme.Rng\ndotnet test Acme.Rng/Acme.Rng.Tests -nologo\n");
    }

    private ProcessRunner.Result RunScript(string name, string script)
    {
        var temp = _temp.Value;
        File.WriteAllText(temp.Combine(name), script);
        var start = new ProcessStartInfo("bash", [temp.Combine(name)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = temp.Path,
        };
        foreach (var variable in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(variable);
        start.Environment["PLUGINVMM_REPO"] = temp.Combine("repo");
        start.Environment["PLUGINVMM_HOME"] = RepoLayout.HostOutput;
        start.Environment["GUEST"] = TinyGuestBuilder.Build("pcitest");
        start.Environment["WORK"] = Work;
        start.Environment["HOME"] = temp.Combine("home");
        // The walk's HOME is a fresh folder; the nested helper (where /dev/kvm cannot run Linux) stays the user's one.
        start.Environment["PLUGINVMM_NESTED_CACHE"] = PluginVmm.Nested.HelperPaths.ForUser().Root;
        start.Environment["DOTNET_CLI_HOME"] = temp.Combine("cli-home");
        start.Environment["NUGET_PACKAGES"] = temp.Combine("packages");
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        start.Environment["DOTNET_CLI_WORKLOAD_UPDATE_NOTIFY_DISABLE"] = "1";
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return new ProcessRunner.Result(process.ExitCode, stdout, stderr.Result);
    }

    private static void CopyTree(string from, string to, params string[] folders)
    {
        foreach (var folder in folders) SamplePluginBuilds.CopyFolder(Path.Combine(from, folder), Path.Combine(to, folder));
    }
}
