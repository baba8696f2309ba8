using PluginVmm.Core.Hosting;
using PluginVmm.Tests.Config;
using PluginVmm.Tests.Plugins;
using Xunit;

namespace PluginVmm.Tests.Cli;

/// <summary>
/// "No VM before the input is valid", checked on the real process with strace: a config error exits 2 without
/// /dev/kvm ever being opened, while a valid config does open it (the control that shows the trace would see it).
/// </summary>
public sealed class NoVmOnConfigErrorTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private (ProcessRunner.Result Result, string Trace) RunTraced(string toml, params string[] runOptions)
    {
        _dir.Write("vmm.toml", toml);
        var trace = _dir.Combine("trace.txt");
        var result = ProcessRunner.Run("strace",
            ["-f", "-qq", "-e", "trace=open,openat", "-o", trace, "dotnet", Path.Combine(RepoLayout.HostOutput, "vmm.dll"), "run", .. runOptions, "vmm.toml"],
            _dir.Path);
        return (result, File.Exists(trace) ? File.ReadAllText(trace) : "");
    }

    [StraceFact]
    public void ConfigError_ExitsTwo_WithoutOpeningDevKvm()
    {
        _dir.Write("bzImage", "not a kernel");
        var (result, trace) = RunTraced("[vm]\nkernel = \"bzImage\"\nvcpus = 99\n");
        Assert.True(result.ExitCode == ExitCodes.ConfigError, result.ToString());
        Assert.Contains("openat(", trace);
        Assert.DoesNotContain("/dev/kvm", trace);
    }

    [StraceFact]
    public void ValidConfig_DoesOpenDevKvm_SoTheTraceWouldHaveSeenIt()
    {
        // --backend kvm: the host's /dev/kvm whatever it is, so this process tries to open it on every host (the nested
        // backend would open it inside its helper, out of the trace's sight). The attempt is traced even when it fails
        // with ENOENT or EACCES, so the control holds without a KVM too.
        _dir.Write("bzImage", "not a kernel");
        var (result, trace) = RunTraced("[vm]\nkernel = \"bzImage\"\n", "--backend", "kvm");
        Assert.NotEqual(ExitCodes.ConfigError, result.ExitCode);
        Assert.Contains("openat(", trace);
        Assert.Contains("\"/dev/kvm\"", trace);
    }
}

/// <summary>A fact that traces the built host with strace; skipped, saying why, without strace or the checkout.</summary>
public sealed class StraceFactAttribute : FactAttribute
{
    private static readonly string? Unavailable = Probe();

    public StraceFactAttribute()
    {
        if (Unavailable is { } why) Skip = why;
    }

    private static string? Probe()
    {
        if (RepoLayout.UnavailableReason is { } why) return why;
        try
        {
            var probe = ProcessRunner.Run("strace", ["-qq", "-e", "trace=none", "true"]);
            return probe.ExitCode == 0 ? null : $"strace cannot trace here: {probe.Stderr.Trim()}";
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return $"strace is not installed: {e.Message}";
        }
    }
}
