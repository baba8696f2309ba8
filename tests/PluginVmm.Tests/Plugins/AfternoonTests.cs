using System.Text.RegularExpressions;
using PluginVmm.Tests.Kvm;
using Xunit;

namespace PluginVmm.Tests.Plugins;

/// <summary>
/// "Write, unit-test and drop in a PCI device in an afternoon", as tests that do it by following
/// docs/writing-a-device.md: the doc's <c>```sh</c> blocks, in order, in bash -euo pipefail. Every step before the boot
/// packs PluginVmm.Sdk, PluginVmm.Sdk.Testing and PluginVmm.Templates into a local feed, installs the templates,
/// creates a device with <c>dotnet new pluginvmm-device</c>, runs its tests against the packages and publishes it
/// beside the bundled plugins; they need no guest, so they run anywhere. The boot step (pcitest, whose PCI enumeration
/// must show the new device) is a test of its own that needs a guest to run.
/// </summary>
public sealed partial class AfternoonTests(AfternoonWalk walk) : IClassFixture<AfternoonWalk>
{
    [AfternoonFact]
    public void The_writing_a_device_doc_takes_a_new_device_from_template_to_a_published_plugin()
    {
        var steps = walk.Steps;
        Assert.True(steps.ExitCode == 0, steps.ToString());

        // Its tests ran, conformance included, and passed; so did the virtio template's.
        var passes = Regex.Matches(steps.Stdout, @"Passed!\s+-\s+Failed:\s+0, Passed:\s+(\d+)").Select(m => int.Parse(m.Groups[1].Value)).ToList();
        Assert.True(passes.Count == 2 && passes.All(n => n >= 10), steps.ToString());
        // The plugin folder holds only the plugin's own files: the SDK comes from the host.
        Assert.Equal(["Acme.Gizmo.deps.json", "Acme.Gizmo.dll", "Acme.Gizmo.pdb", "Acme.Gizmo.runtimeconfig.json"],
            Directory.GetFiles(Path.Combine(walk.Work, "plugins", "Acme.Gizmo")).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal));
        Assert.Contains("acme-gizmo", steps.Stdout);      // `vmm plugins` lists the new kind
    }

    [AfternoonGuestFact]
    public void The_writing_a_device_doc_boots_the_new_device_in_a_guest()
    {
        var steps = walk.Steps;
        Assert.True(steps.ExitCode == 0, $"the steps before the boot failed (see the other afternoon test):\n{steps}");

        var boot = walk.Boot();
        Assert.True(boot.ExitCode == 0, boot.ToString());
        Assert.Contains("vmm exit code 33", boot.Stdout);      // pcitest ran to its end
        string serial = File.ReadAllText(Path.Combine(walk.Work, "serial.txt"));
        Assert.Matches(@"PCI [0-9a-f]{2} 1234:11e0 class ff0000", serial);
        Assert.Matches(@"BAR [0-9a-f]{2} 0 mem32 size 0x0000000000001000 addr 0x00000000[c-f]", serial);
    }

    /// <summary>The bodies of the doc's <c>```sh</c> blocks, in order.</summary>
    internal static IEnumerable<string> ShellBlocks(string markdown) =>
        ShBlock().Matches(markdown).Select(m => m.Groups[1].Value);

    [CheckoutFact]
    public void The_doc_has_the_steps_the_test_relies_on()
    {
        var blocks = ShellBlocks(File.ReadAllText(AfternoonWalk.DocPath)).ToList();
        string all = string.Join("\n", blocks);
        foreach (var step in new[] { "dotnet pack", "dotnet new install", "dotnet new pluginvmm-device", "dotnet test", "dotnet publish", "vmm.dll\" run" })
            Assert.Contains(step, all);
        // The boot is the doc's last step, so the steps before it make a plugin without booting anything.
        Assert.Equal(blocks.Count - 1, blocks.FindIndex(AfternoonWalk.Boots));
    }

    [GeneratedRegex(@"^```sh\n(.*?)^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex ShBlock();
}

/// <summary>
/// The afternoon steps need the .NET SDK (they pack and build) and the built host; skipped, saying which is missing.
/// </summary>
public sealed class AfternoonFactAttribute : FactAttribute
{
    public AfternoonFactAttribute()
    {
        if (AfternoonPrerequisites.Missing is { } missing) Skip = missing;
    }
}

/// <summary>The afternoon's boot step needs those and a guest to run (<see cref="GuestBackend"/>); skipped, saying why.</summary>
public sealed class AfternoonGuestFactAttribute : FactAttribute
{
    public AfternoonGuestFactAttribute()
    {
        if (AfternoonPrerequisites.Missing is { } missing) Skip = missing;
        else if (GuestBackend.UnavailableReason is { } guest) Skip = guest;
    }
}

internal static class AfternoonPrerequisites
{
    /// <summary>What the afternoon steps lack here, or null.</summary>
    public static string? Missing { get; } = SdkMissing() ?? RepoLayout.UnavailableReason;

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
