using PluginVmm.Core.Hosting;
using PluginVmm.Tests.Config;
using PluginVmm.Tests.Plugins;
using Xunit;

namespace PluginVmm.Tests.Kvm;

/// <summary>
/// The smallest guests, run as a user runs a VM: a TOML file and `vmm run` of the built host, so they run wherever
/// `vmm run` can boot a guest (directly on KVM, or nested). The guest's COM1 is the process's stdout.
/// </summary>
public sealed class TinyGuestTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Config(string guest, int vcpus = 1)
    {
        string toml = _dir.Combine(guest + ".toml");
        File.WriteAllText(toml, $"[vm]\nmemory_mib = 16\nvcpus = {vcpus}\nkernel = \"{TinyGuestBuilder.Build(guest)}\"\n");
        return toml;
    }

    [GuestFact]
    public void Hello_PrintsOnCom1_AndExitsThroughDebugPort()
    {
        var result = ProcessRunner.Vmm(RepoLayout.HostOutput, "run", Config("hello"));

        Assert.True(result.ExitCode == ExitCodes.DebugExit(0x10), result.ToString()); // 0x21
        Assert.Equal("hello from PluginVmm tiny guest\n", result.Stdout);
    }

    [GuestFact]
    public void Reset_ThroughI8042_EndsWithCodeZero()
    {
        var result = ProcessRunner.Vmm(RepoLayout.HostOutput, "run", Config("reset"));

        Assert.True(result.ExitCode == ExitCodes.GuestShutdown, result.ToString());
        Assert.Equal("", result.Stdout);
    }

    [GuestFact]
    public void Sigterm_StopsAGuestSpinningForever()
    {
        // Two vCPUs: the second never starts (PVH boots one), so stopping must also end a vCPU parked before its first run.
        using var vmm = ProcessRunner.StartVmm(RepoLayout.HostOutput, "run", Config("spin", vcpus: 2));
        // Generous bounds: a nested guest first boots a helper VM under QEMU TCG. They fail the test, they time nothing.
        Assert.True(vmm.WaitForStdout("spinning\n", TimeSpan.FromMinutes(5)),
            $"the spin guest never said it runs\n--- stdout\n{vmm.Stdout}\n--- stderr\n{vmm.Stderr}");

        vmm.Terminate();
        var result = vmm.WaitForExit(TimeSpan.FromMinutes(2));

        Assert.True(result is not null, $"vmm run did not end within 2 minutes of SIGTERM\n--- stderr\n{vmm.Stderr}");
        // SIGTERM stops the VM (VmExitReason.Stopped, exit code 0) rather than ending the process from outside (143),
        // and the VMM says so on stderr at the default log level.
        Assert.True(result.ExitCode == ExitCodes.GuestShutdown, result.ToString());
        Assert.Contains("stopped by the host", result.Stderr);
        Assert.Equal("spinning\n", result.Stdout);
    }
}
