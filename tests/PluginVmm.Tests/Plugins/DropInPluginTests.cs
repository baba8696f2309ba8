using PluginVmm.Core.Config;
using PluginVmm.Core.Plugins;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Tests.Config;
using Xunit;

namespace PluginVmm.Tests.Plugins;

/// <summary>
/// The drop-in proof: a plugin built outside the solution, copied into a plugins folder, is found by kind and its
/// options bind from vmm.toml; the same plugin built against a newer SDK is refused with a message naming both
/// versions; broken plugin classes are reported one by one while the good one next to them still loads.
/// </summary>
[Collection(SamplePluginsCollection.Name)]
public sealed class DropInPluginTests(SamplePluginBuilds builds) : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [CheckoutFact]
    public void ThirdPartyPlugin_IsLoadedByKind_EvenThoughItsClassIsInternal()
    {
        // Only the plugin's own files: the SDK and its dependencies come from the host.
        Assert.Equal(["Acme.Widget.deps.json", "Acme.Widget.dll", "Acme.Widget.pdb", "Acme.Widget.runtimeconfig.json"],
            Directory.GetFiles(Path.Combine(builds.CurrentPlugins, "Acme.Widget")).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal));

        using var catalog = PluginCatalog.Load(builds.CurrentPlugins);
        Assert.Empty(catalog.Problems);
        var widget = Assert.Single(catalog.Plugins);
        Assert.Equal("acme-widget", widget.Kind);
        Assert.Equal("Acme.Widget", widget.AssemblyName);
        Assert.Equal("0.3.0", widget.Version);
        Assert.Equal(Path.Combine(builds.CurrentPlugins, "Acme.Widget", "Acme.Widget.dll"), widget.AssemblyPath);
        Assert.False(widget.Plugin.GetType().IsPublic);
        // Type identity is shared with the host: the plugin's IDevicePlugin is the host's.
        Assert.IsAssignableFrom<IDevicePlugin>(widget.Plugin);
        Assert.Same(typeof(DeviceOptions).Assembly, widget.Plugin.OptionsType.BaseType!.Assembly);
    }

    [CheckoutFact]
    public void ThirdPartyOptions_BindFromToml_AndItsValidationErrorsArePositioned()
    {
        _dir.Write("bzImage", "k");
        using var catalog = PluginCatalog.Load(builds.CurrentPlugins);

        var ok = ConfigLoader.Load(ConfigLoader.Parse("[vm]\nkernel = \"bzImage\"\n[[device]]\nkind = \"acme-widget\"\nlabel = \"hello\"\n",
            "vmm.toml", _dir.Path), catalog.Kinds);
        Assert.True(ok.Succeeded, string.Join("\n", ok.Diagnostics));
        var options = ok.Config!.Devices[0].Options;
        Assert.Equal("WidgetOptions", options.GetType().Name);
        Assert.Equal("hello", options.GetType().GetProperty("Label")!.GetValue(options));

        var bad = ConfigLoader.Load(ConfigLoader.Parse(
            "[vm]\nkernel = \"bzImage\"\n[[device]]\nkind = \"acme-widget\"\nlabel = \"" + new string('x', 40) + "\"\ncolour = 1\n",
            "vmm.toml", _dir.Path), catalog.Kinds);
        Assert.Equal(["vmm.toml(6,1): error: unknown key 'colour' for device kind 'acme-widget'; valid keys: kind, label"],
            bad.Diagnostics.Select(d => d.ToString()));

        var invalid = ConfigLoader.Load(ConfigLoader.Parse(
            "[vm]\nkernel = \"bzImage\"\n[[device]]\nkind = \"acme-widget\"\nlabel = \"" + new string('x', 40) + "\"\n",
            "vmm.toml", _dir.Path), catalog.Kinds);
        Assert.Equal(["vmm.toml(5,9): error: label must be at most 32 characters"], invalid.Diagnostics.Select(d => d.ToString()));
    }

    [CheckoutFact]
    public void PluginBuiltAgainstANewerSdk_IsRefused_NamingBothVersions()
    {
        using var catalog = PluginCatalog.Load(builds.NewerSdkPlugins);
        Assert.Empty(catalog.Plugins);
        Assert.True(catalog.HasErrors);
        var problem = Assert.Single(catalog.Problems);
        Assert.Equal(
            $"plugin Acme.Widget was built against PluginVmm.Sdk {SamplePluginBuilds.NewerSdkVersion}; this host has {SamplePluginBuilds.HostSdkVersion}",
            problem.Message);
        Assert.Equal(PluginProblemSeverity.Error, problem.Severity);
    }

    [CheckoutFact]
    public void BrokenPluginClasses_AreEachReported_AndTheGoodOneStillLoads()
    {
        using var catalog = PluginCatalog.Load(builds.MixedPlugins);
        var logged = Assert.Single(catalog.Plugins);
        Assert.Equal("acme-logged", logged.Kind);
        Assert.Equal("has a logger", logged.Description);
        Assert.Equal(
        [
            "error: plugin Acme.Mixed: Acme.Mixed.ThrowingPlugin failed: widget firmware missing",
            "error: plugin Acme.Mixed: BadKindPlugin declares kind 'Not A Kind', which is not lower case letters, digits and '-'",
            "error: plugin Acme.Mixed: kind 'acme-clash': property ClashOptions.Kind maps to 'kind', which selects the plugin and cannot be an option",
            "error: plugin Acme.Mixed: kind 'acme-unbindable': property UnbindableOptions.Map has type Dictionary<String, Int32>, which a TOML value cannot bind to",
        ], catalog.Problems.Select(p => p.ToString()).Order(StringComparer.Ordinal));
    }
}
