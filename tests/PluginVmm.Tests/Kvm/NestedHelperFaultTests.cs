using PluginVmm.Core.Hosting;
using PluginVmm.Tests.Config;
using PluginVmm.Tests.Plugins;
using Xunit;

namespace PluginVmm.Tests.Kvm;

/// <summary>
/// A helper that freezes is the helper's fault, not the VMM's: `vmm run` notices the silence, stops it, runs the VM
/// once more in a fresh helper, says so and records it for the test report, and leaves no QEMU behind. Runs on a
/// private helper (its own cache folder), so freezing it does not touch the guest tests sharing the user's helper.
/// </summary>
public sealed class NestedHelperFaultTests : IDisposable
{
    private readonly TempDirectory _dir = new("pluginvmm-nested");

    public void Dispose() => _dir.Dispose();

    [NestedFact]
    public void A_frozen_helper_is_stopped_and_the_vm_runs_once_more_in_a_fresh_one_which_ends_with_the_run()
    {
        var toml = _dir.Write("spin.toml", $"[vm]\nmemory_mib = 16\nkernel = \"{TinyGuestBuilder.Build("spin")}\"\n");
        var cache = _dir.Combine("cache");
        var retries = _dir.Combine("retry.log");
        var environment = new Dictionary<string, string>
        {
            ["PLUGINVMM_NESTED_CACHE"] = cache,
            ["PLUGINVMM_NESTED_STALL_S"] = "10",
            ["PLUGINVMM_NESTED_IDLE_S"] = "0",
            ["PLUGINVMM_RETRY_LOG"] = retries,
        };
        using var vmm = ProcessRunner.StartVmm(RepoLayout.HostOutput, environment, "run", "--backend", "nested", toml);
        Assert.True(vmm.WaitForStdout("spinning\n", TimeSpan.FromMinutes(5)), $"the first run never started\n{vmm.Stderr}");
        int frozen = int.Parse(File.ReadAllText(Path.Combine(cache, "helper", "qemu.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(ProcessSignal.Send(frozen, 19), "SIGSTOP to the helper's QEMU");   // freezes the whole L1

        Assert.True(vmm.WaitForStdout("spinning\nspinning\n", TimeSpan.FromMinutes(5)),
            $"the VM was not run again in a fresh helper\n--- stdout\n{vmm.Stdout}\n--- stderr\n{vmm.Stderr}");
        Assert.False(ProcessSignal.IsAlive(frozen) && !IsZombie(frozen), "the frozen helper's QEMU is still there");
        int fresh = int.Parse(File.ReadAllText(Path.Combine(cache, "helper", "qemu.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.NotEqual(frozen, fresh);

        vmm.Terminate();
        var result = vmm.WaitForExit(TimeSpan.FromMinutes(2));
        Assert.True(result is not null, $"vmm run did not end after SIGTERM\n{vmm.Stderr}");
        Assert.True(result.ExitCode == ExitCodes.GuestShutdown, result.ToString());
        Assert.Contains("the nested helper froze (no word from it for 10 s); running the VM once more in a fresh helper", result.Stderr);
        var logged = Assert.Single(File.ReadAllLines(retries));
        Assert.StartsWith("nested: the nested helper froze", logged);

        // With PLUGINVMM_NESTED_IDLE_S=0 the fresh helper powers off once its last VM has ended: no QEMU is left.
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (ProcessSignal.IsAlive(fresh) && !IsZombie(fresh) && DateTime.UtcNow < deadline) Thread.Sleep(200);
        Assert.False(ProcessSignal.IsAlive(fresh) && !IsZombie(fresh), "the fresh helper's QEMU stayed after its VM ended");
    }

    private static bool IsZombie(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (IOException)
        {
            return true;
        }
    }
}

/// <summary>A fact for the nested backend itself: needs QEMU and virtiofsd (not a KVM), and the built host.</summary>
public sealed class NestedFactAttribute : FactAttribute
{
    public NestedFactAttribute()
    {
        if (RepoLayout.UnavailableReason is { } host) Skip = host;
        else if (GuestBackend.Qemu is null) Skip = "the nested backend needs qemu-system-x86_64 (apt-get install qemu-system-x86)";
    }
}
