using PluginVmm.Tests.Config;
using PluginVmm.Tests.Plugins;
using Xunit;

namespace PluginVmm.Tests.Kvm;

/// <summary>
/// The drop-in proof on a running guest: the sample third-party plugin (samples/Acme.Widget, built outside the
/// solution) is put beside the bundled plugins, loaded by its kind from the TOML file, and the guest finds its
/// function and relocates its BARs — ROM included — under the host's rules.
/// </summary>
[Collection(SamplePluginsCollection.Name)]
public sealed class DropInGuestTests(SamplePluginBuilds builds) : IDisposable
{
    private const int GuestOk = (0x10 << 1) | 1;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string PluginsWithWidget()
    {
        string plugins = _dir.Combine("plugins");
        foreach (var source in Directory.GetDirectories(RepoLayout.HostPlugins).Append(Path.Combine(builds.CurrentPlugins, "Acme.Widget")))
        {
            string target = Path.Combine(plugins, Path.GetFileName(source));
            Directory.CreateDirectory(target);
            foreach (var file in Directory.GetFiles(source)) File.Copy(file, Path.Combine(target, Path.GetFileName(file)));
        }
        return plugins;
    }

    [GuestFact]
    public void Guest_sees_the_dropped_in_widget_function()
    {
        var run = PcitestRun.Boot(_dir, "enum", "[[device]]\nkind = \"pvpanic\"\n[[device]]\nkind = \"acme-widget\"\nlabel = \"widget\"\n",
            PluginsWithWidget());
        Assert.True(run.Result.ExitCode == GuestOk, run.Result.ToString());
        var widget = Assert.Single(run.Functions(), f => f.Vendor == 0x1234 && f.DeviceId == 0xabcd);
        Assert.Equal(0xff0000u, widget.Class);
        Assert.Equal(["0 mem32 4096", "2 mem64 1048576", "6 rom 2048"], widget.Bars.Select(b => $"{b.Index} {b.Kind} {b.Size}"));
    }

    [GuestFact]
    public void Widget_rom_and_bars_roll_back_by_index()
    {
        var run = PcitestRun.Boot(_dir, "rollback", "[[device]]\nkind = \"acme-widget\"\n", PluginsWithWidget());
        var checks = run.Checks();
        Assert.True(checks.All(c => c.Ok), run.Result.ToString());
        string[] expected =
        [
            "widget id register", "widget rom readable", "widget rom onto LAPIC", "widget rom onto its own bar0",
            "widget bar2 onto bar0 refused, both keep their addresses", "widget bar0 onto rom refused", "widget rom moved",
        ];
        foreach (var what in expected) Assert.Contains((true, what), checks);
        Assert.Equal(GuestOk, run.Result.ExitCode);
    }
}
