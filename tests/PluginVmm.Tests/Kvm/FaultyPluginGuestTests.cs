using System.Text.RegularExpressions;
using PluginVmm.Tests.Config;
using PluginVmm.Tests.Plugins;
using Xunit;

namespace PluginVmm.Tests.Kvm;

/// <summary>
/// Fault isolation on a running guest: samples/Acme.Faulty throws from the callback its `fault` option names while
/// pcitest's "touch" mode reads and writes config space and every BAR of every function, moves the faulty
/// function's BAR0 and enumerates again. The VM keeps running to the guest's own exit, pvpanic still answers, the
/// faulty function reads all ones (so the second enumeration no longer lists it), and the log names the plugin.
/// A plugin that fails while the VM starts (Create, AssignBar) ends `vmm run` with exit code 1 and a message
/// naming the device, the plugin and the config table.
/// </summary>
[Collection(SamplePluginsCollection.Name)]
public sealed partial class FaultyPluginGuestTests(SamplePluginBuilds builds) : IDisposable
{
    private const int GuestOk = (0x10 << 1) | 1;
    private const string Faulty = "1234:fa17", PvPanic = "1b36:0011";
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private PcitestRun Boot(string fault)
    {
        string plugins = _dir.Combine("plugins");
        foreach (var source in Directory.GetDirectories(RepoLayout.HostPlugins).Append(Path.Combine(builds.FaultyPlugins, "Acme.Faulty")))
        {
            string target = Path.Combine(plugins, Path.GetFileName(source));
            Directory.CreateDirectory(target);
            foreach (var file in Directory.GetFiles(source)) File.Copy(file, Path.Combine(target, Path.GetFileName(file)), overwrite: true);
        }
        return PcitestRun.Boot(_dir, "touch", $"[[device]]\nkind = \"pvpanic\"\n[[device]]\nkind = \"acme-faulty\"\nfault = \"{fault}\"\n", plugins);
    }

    /// <summary>vendor:device of each function, per enumeration (pcitest ends each with PCI-END).</summary>
    private static List<List<string>> Enumerations(string serial)
    {
        var result = new List<List<string>> { new() };
        foreach (var line in serial.Split('\n'))
        {
            if (PciLine().Match(line) is { Success: true } m) result[^1].Add(m.Groups[1].Value);
            else if (line.StartsWith("PCI-END", StringComparison.Ordinal)) result.Add([]);
        }
        result.RemoveAt(result.Count - 1);
        return result;
    }

    [GuestFact]
    public void Throwing_config_read_fences_only_the_faulty_device() => AssertFenced("config-read", "ReadConfigRegister(16)");

    [GuestFact]
    public void Throwing_config_write_fences_only_the_faulty_device() => AssertFenced("config-write", "WriteConfigRegister(16");

    [GuestFact]
    public void Throwing_bar_read_fences_only_the_faulty_device() => AssertFenced("bar-read", "ReadBar(0, 0x0)");

    [GuestFact]
    public void Throwing_bar_write_fences_only_the_faulty_device() => AssertFenced("bar-write", "WriteBar(0, 0x0)");

    private void AssertFenced(string fault, string callback)
    {
        var run = Boot(fault);
        Assert.True(run.Result.ExitCode == GuestOk, run.Result.ToString());
        Assert.Contains("TOUCH-END", run.Serial);
        var enumerations = Enumerations(run.Serial);
        Assert.Equal(2, enumerations.Count);
        Assert.Contains(Faulty, enumerations[0]);
        Assert.DoesNotContain(Faulty, enumerations[1]);   // reads all ones now
        Assert.Contains(PvPanic, enumerations[1]);        // the other devices still answer
        Assert.Matches(@"TOUCH \w\w bar0 0x00000003", run.Serial); // pvpanic's event register, read during the touch
        Assert.Contains("acme-faulty0 (plugin Acme.Faulty) fenced", run.Result.Stderr);
        Assert.Contains(callback, run.Result.Stderr);
        Assert.Contains($"{fault} failed on purpose", run.Result.Stderr);
    }

    [GuestFact]
    public void Throwing_worker_thread_fences_only_the_faulty_device() => AssertFenced("worker", "worker 'kicks' threw FaultException");

    [GuestFact]
    public void An_unguarded_plugin_thread_ends_vmm_with_exit_1_naming_the_plugin()
    {
        var run = Boot("own-thread");
        Assert.True(run.Result.ExitCode == 1, run.Result.ToString());
        Assert.Contains("fatal: unhandled FaultException: acme-faulty: own thread failed on purpose on thread 'acme-faulty raw', thrown by plugin Acme.Faulty", run.Result.Stderr);
        Assert.Contains("IDeviceContext.StartWorker", run.Result.Stderr);
        Assert.DoesNotContain("Unhandled exception.", run.Result.Stderr);   // no runtime dump
        Assert.Contains("PCI-END", run.Serial);                                // it happened while the guest ran
    }

    [GuestFact]
    public void Throwing_move_bar_refuses_the_move_and_the_device_keeps_working()
    {
        var run = Boot("move-bar");
        Assert.True(run.Result.ExitCode == GuestOk, run.Result.ToString());
        var enumerations = Enumerations(run.Serial);
        Assert.Contains(Faulty, enumerations[1]);
        Assert.DoesNotContain("MOVE faulty bar0 readback 0x00000000df000000", run.Serial); // rolled back to its old address
        Assert.Contains("acme-faulty0 (plugin Acme.Faulty): guest moved BAR0", run.Result.Stderr);
        Assert.Contains("move-bar failed on purpose", run.Result.Stderr);
    }

    [GuestFact]
    public void A_plugin_failing_at_startup_ends_vmm_with_exit_1_naming_it()
    {
        foreach (var (fault, what) in new[] { ("create", "from Create: acme-faulty: firmware blob missing"), ("assign-bar", "AssignBar(BAR0") })
        {
            var run = Boot(fault);
            Assert.True(run.Result.ExitCode == 1, run.Result.ToString());
            Assert.Contains("device acme-faulty0 (kind 'acme-faulty', plugin Acme.Faulty, ", run.Result.Stderr);
            Assert.Contains(what, run.Result.Stderr);
            Assert.DoesNotContain("PCI-END", run.Serial); // the guest never ran
        }
    }

    [GeneratedRegex("^PCI [0-9a-f]{2} ([0-9a-f]{4}:[0-9a-f]{4}) class")]
    private static partial Regex PciLine();
}
