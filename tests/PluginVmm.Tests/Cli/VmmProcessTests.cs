using PluginVmm.Core.Hosting;
using PluginVmm.Tests.Config;
using PluginVmm.Tests.Plugins;
using Xunit;

namespace PluginVmm.Tests.Cli;

/// <summary>The built `vmm` as a process: what a user sees on stdout and stderr, and the exit code.</summary>
[Collection(SamplePluginsCollection.Name)]
public sealed class VmmProcessTests(SamplePluginBuilds builds) : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [CheckoutFact]
    public void Run_BadToml_PrintsPositionedErrors_AndExitsTwo()
    {
        _dir.Write("bzImage", "k");
        _dir.Write("vmm.toml", "[vm]\nkernel = \"bzImage\"\nvcpus = 0\n[[device]]\nkind = \"pvpanic\"\nirq = 3\n");
        var result = ProcessRunner.Run("dotnet", [Path.Combine(RepoLayout.HostOutput, "vmm.dll"), "run", "vmm.toml"], _dir.Path);
        Assert.True(result.ExitCode == ExitCodes.ConfigError, result.ToString());
        Assert.Equal("", result.Stdout);
        Assert.Equal(
            "vmm.toml(3,9): error: vcpus: 0 is out of range 1..64\n" +
            "vmm.toml(6,1): error: unknown key 'irq' for device kind 'pvpanic'; valid keys: kind\n",
            result.Stderr);
    }

    [CheckoutFact]
    public void Plugins_ListsADroppedInPlugin_AsATable()
    {
        var result = ProcessRunner.Vmm(RepoLayout.HostOutput, "plugins", "--plugins-dir", builds.CurrentPlugins);
        Assert.True(result.ExitCode == 0, result.ToString());
        var lines = result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("KIND ", lines[0]);
        Assert.Matches(@"^acme-widget\s+Acme\.Widget\s+0\.3\.0\s+\S+/Acme\.Widget\.dll\s+Acme widget \(third-party sample plugin\)$", lines[1]);
    }

    [CheckoutFact]
    public void Plugins_NewerSdkPlugin_IsReportedOnStderr_ExitTwo()
    {
        var result = ProcessRunner.Vmm(RepoLayout.HostOutput, "plugins", "--plugins-dir", builds.NewerSdkPlugins);
        Assert.Equal(ExitCodes.ConfigError, result.ExitCode);
        Assert.Contains(
            $"error: plugin Acme.Widget was built against PluginVmm.Sdk {SamplePluginBuilds.NewerSdkVersion}; this host has {SamplePluginBuilds.HostSdkVersion}",
            result.Stderr);
    }

    [CheckoutFact]
    public void Publish_WritesAHostThatRunsFromItsFolder()
    {
        var target = _dir.Combine("installed");
        var publish = ProcessRunner.Vmm(RepoLayout.HostOutput, "publish", target);
        Assert.True(publish.ExitCode == 0, publish.ToString());

        var plugins = ProcessRunner.Run(Path.Combine(target, "vmm"), ["plugins"]);
        Assert.True(plugins.ExitCode == 0, plugins.ToString());
        Assert.Contains($"{Path.Combine(target, "plugins", "PvPanic", "PvPanic.dll")}", plugins.Stdout);

        _dir.Write("x.toml", "[vm]\nkernel = \"missing\"\n");
        var run = ProcessRunner.Run(Path.Combine(target, "vmm"), ["run", "x.toml"], _dir.Path);
        Assert.Equal(ExitCodes.ConfigError, run.ExitCode);
        Assert.Equal($"x.toml(2,10): error: kernel: file not found: 'missing' (resolved to {_dir.Combine("missing")})\n", run.Stderr);
    }
}
