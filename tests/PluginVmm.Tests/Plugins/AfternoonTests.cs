using System.Diagnostics;
using System.Text.RegularExpressions;
using PluginVmm.Tests.Config;
using PluginVmm.Tests.Kvm;
using Xunit;

namespace PluginVmm.Tests.Plugins;

/// <summary>
/// "Write, unit-test and drop in a PCI device in an afternoon", as a test that does it by following
/// docs/writing-a-device.md: every <c>```sh</c> block of the doc, in order, in one bash -euo pipefail. That packs
/// PluginVmm.Sdk, PluginVmm.Sdk.Testing and PluginVmm.Templates into a local feed, installs the templates, creates
/// a device with <c>dotnet new pluginvmm-device</c>, runs its tests against the packages, publishes it beside the
/// bundled plugins and boots pcitest, whose PCI enumeration must show it.
/// Isolation: the sources are copied to a temp tree (the checkout's obj/bin are not touched); DOTNET_CLI_HOME is a
/// temp folder (the user's installed templates are not touched) and NUGET_PACKAGES too (the 1.0.0 packages built
/// here never land in the machine's package cache). The machine's package cache is offered as a package source,
/// so the restore works offline when xunit and friends are cached, and from the user's feeds otherwise.
/// Slow: it builds three packages and two projects (about two minutes).
/// </summary>
public sealed partial class AfternoonTests
{
    private static readonly string DocPath = Path.Combine(RepoLayout.Root ?? "", "docs", "writing-a-device.md");

    [AfternoonFact]
    public void The_writing_a_device_doc_takes_a_new_device_from_template_to_guest()
    {
        using var temp = new TempDirectory("pluginvmm-afternoon");
        string repo = temp.Combine("repo"), work = temp.Combine("work");
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

        // The doc's steps, then the virtio template the doc points to (created and tested the same way).
        string script = "set -euo pipefail\n" + string.Join("\n", ShellBlocks(File.ReadAllText(DocPath)))
            + "\ncd \"$WORK\"\ndotnet new pluginvmm-virtio-device -n Acme.Rng -o Acme.Rng\ndotnet test Acme.Rng/Acme.Rng.Tests -nologo\n";
        File.WriteAllText(temp.Combine("afternoon.sh"), script);
        var start = new ProcessStartInfo("bash", [temp.Combine("afternoon.sh")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = temp.Path,
        };
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(name);
        start.Environment["PLUGINVMM_REPO"] = repo;
        start.Environment["PLUGINVMM_HOME"] = RepoLayout.HostOutput;
        start.Environment["GUEST"] = TinyGuestBuilder.Build("pcitest");
        start.Environment["WORK"] = work;
        start.Environment["HOME"] = temp.Combine("home");
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
        string log = $"exit {process.ExitCode}\n--- stdout\n{stdout}\n--- stderr\n{stderr.Result}";
        Assert.True(process.ExitCode == 0, log);

        // Its tests ran, conformance included, and passed; so did the virtio template's.
        var passes = Regex.Matches(stdout, @"Passed!\s+-\s+Failed:\s+0, Passed:\s+(\d+)").Select(m => int.Parse(m.Groups[1].Value)).ToList();
        Assert.True(passes.Count == 2 && passes.All(n => n >= 10), log);
        // The plugin folder holds only the plugin's own files: the SDK comes from the host.
        Assert.Equal(["Acme.Gizmo.deps.json", "Acme.Gizmo.dll", "Acme.Gizmo.pdb", "Acme.Gizmo.runtimeconfig.json"],
            Directory.GetFiles(Path.Combine(work, "plugins", "Acme.Gizmo")).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal));
        Assert.Contains("acme-gizmo", stdout);            // `vmm plugins` lists the new kind
        Assert.Contains("vmm exit code 33", stdout);      // pcitest ran to its end
        string serial = File.ReadAllText(Path.Combine(work, "serial.txt"));
        Assert.Matches(@"PCI [0-9a-f]{2} 1234:11e0 class ff0000", serial);
        Assert.Matches(@"BAR [0-9a-f]{2} 0 mem32 size 0x0000000000001000 addr 0x00000000[c-f]", serial);
    }

    /// <summary>The bodies of the doc's <c>```sh</c> blocks, in order.</summary>
    internal static IEnumerable<string> ShellBlocks(string markdown) =>
        ShBlock().Matches(markdown).Select(m => m.Groups[1].Value);

    [CheckoutFact]
    public void The_doc_has_the_steps_the_test_relies_on()
    {
        var blocks = ShellBlocks(File.ReadAllText(DocPath)).ToList();
        string all = string.Join("\n", blocks);
        foreach (var step in new[] { "dotnet pack", "dotnet new install", "dotnet new pluginvmm-device", "dotnet test", "dotnet publish", "vmm.dll\" run" })
            Assert.Contains(step, all);
    }

    private static void CopyTree(string from, string to, params string[] folders)
    {
        foreach (var folder in folders) CopyFolder(Path.Combine(from, folder), Path.Combine(to, folder));
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        foreach (var dir in Directory.EnumerateDirectories(from))
        {
            var name = Path.GetFileName(dir);
            if (name is "bin" or "obj") continue;
            CopyFolder(dir, Path.Combine(to, name));
        }
    }

    [GeneratedRegex(@"^```sh\n(.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex ShBlock();
}

/// <summary>
/// The afternoon test needs the .NET SDK (it packs and builds), the built host, /dev/kvm and gcc for the guest;
/// skipped, saying which is missing.
/// </summary>
public sealed class AfternoonFactAttribute : FactAttribute
{
    public AfternoonFactAttribute()
    {
        if (SdkMissing() is { } sdk) Skip = sdk;
        else if (RepoLayout.UnavailableReason is { } host) Skip = host;
        else if (GuestBackend.UnavailableReason is { } guest) Skip = guest;
    }

    private static string? SdkMissing()
    {
        try
        {
            var result = ProcessRunner.Run("dotnet", ["--list-sdks"]);
            return result.ExitCode == 0 && result.Stdout.Contains("10.", StringComparison.Ordinal) ? null
                : "needs the .NET 10 SDK (`dotnet --list-sdks` shows none): the test packs 3 packages and builds 2 projects";
        }
        catch (Exception e)
        {
            return $"needs the .NET 10 SDK on PATH (the test packs 3 packages and builds 2 projects): {e.Message}";
        }
    }
}
