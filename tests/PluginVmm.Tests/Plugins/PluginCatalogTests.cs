using PluginVmm.Core.Plugins;
using PluginVmm.Tests.Config;
using Xunit;

namespace PluginVmm.Tests.Plugins;

/// <summary>Loading plugin folders: the host's own plugins, and folders that are wrong in each possible way.</summary>
public sealed class PluginCatalogTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string[] Lines(PluginCatalog catalog) => [.. catalog.Problems.Select(p => p.ToString())];

    [CheckoutFact]
    public void HostBuild_PutsEveryPluginProject_InPluginsNameNameDll_WithoutTheSdk()
    {
        var projects = Directory.GetFiles(Path.Combine(RepoLayout.Root!, "plugins"), "*.csproj", SearchOption.AllDirectories)
            .Select(p => Path.GetFileNameWithoutExtension(p)).ToList();
        Assert.Contains("PvPanic", projects);
        foreach (var name in projects)
        {
            var folder = Path.Combine(RepoLayout.HostPlugins, name);
            Assert.True(File.Exists(Path.Combine(folder, name + ".dll")), $"{folder}/{name}.dll is missing");
            // The SDK must come from the host: a private copy would split type identity.
            Assert.False(File.Exists(Path.Combine(folder, "PluginVmm.Sdk.dll")), $"{folder} carries its own PluginVmm.Sdk.dll");
            Assert.Empty(Directory.GetFiles(folder, "Microsoft.Extensions.*.dll"));
        }
    }

    [CheckoutFact]
    public void HostPlugins_LoadCleanly_AndIncludePvPanic()
    {
        using var catalog = PluginCatalog.Load(RepoLayout.HostPlugins);
        Assert.Empty(Lines(catalog));
        var pvpanic = catalog.Find("pvpanic");
        Assert.NotNull(pvpanic);
        Assert.Equal("PvPanic", pvpanic.AssemblyName);
        Assert.Equal(Path.Combine(RepoLayout.HostPlugins, "PvPanic", "PvPanic.dll"), pvpanic.AssemblyPath);
        Assert.Equal(SamplePluginBuilds.HostSdkVersion, pvpanic.SdkVersion);
        Assert.False(string.IsNullOrEmpty(pvpanic.Description));
        Assert.Same(pvpanic.Plugin, catalog.Kinds["pvpanic"]);
        Assert.Equal(catalog.Plugins.Select(p => p.Kind).Order(StringComparer.Ordinal), catalog.Plugins.Select(p => p.Kind));
    }

    [Fact]
    public void MissingFolder_IsAWarning_AndAnEmptyCatalog()
    {
        using var catalog = PluginCatalog.Load(_dir.Combine("nope"));
        Assert.Empty(catalog.Plugins);
        Assert.False(catalog.HasErrors);
        Assert.Equal([$"warning: plugins folder not found: {_dir.Combine("nope")}"], Lines(catalog));
    }

    [Fact]
    public void SubfolderWithoutItsDll_IsAWarning()
    {
        _dir.Write("Foo/Bar.dll", "not the right name");
        using var catalog = PluginCatalog.Load(_dir.Path);
        Assert.Equal([$"warning: plugin folder {_dir.Combine("Foo")} has no Foo.dll; skipped"], Lines(catalog));
    }

    [Fact]
    public void FileThatIsNotAnAssembly_IsRefused()
    {
        _dir.Write("Junk/Junk.dll", "MZ but not really a PE file");
        using var catalog = PluginCatalog.Load(_dir.Path);
        Assert.True(catalog.HasErrors);
        var problem = Assert.Single(catalog.Problems);
        Assert.Equal(PluginProblemSeverity.Error, problem.Severity);
        Assert.StartsWith("plugin Junk: ", problem.Message);
        Assert.Equal(_dir.Combine("Junk", "Junk.dll"), problem.AssemblyPath);
    }

    [Fact]
    public void AssemblyWithoutPlugins_IsAWarning()
    {
        // Tomlyn is a real .NET assembly that implements no IDevicePlugin.
        var tomlyn = typeof(Tomlyn.TomlSerializer).Assembly.Location;
        var copy = _dir.Combine("Tomlyn", "Tomlyn.dll");
        Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
        File.Copy(tomlyn, copy);
        using var catalog = PluginCatalog.Load(_dir.Path);
        Assert.False(catalog.HasErrors);
        Assert.Equal([$"warning: plugin Tomlyn contains no IDevicePlugin implementation ({copy})"], Lines(catalog));
    }

    [CheckoutFact]
    public void SameKindFromTwoAssemblies_IsAnError_NamingBoth_AndNeitherIsUsed()
    {
        var original = Path.Combine(RepoLayout.HostPlugins, "PvPanic", "PvPanic.dll");
        var first = _dir.Combine("PvPanic", "PvPanic.dll");
        var second = _dir.Combine("ZPanic", "ZPanic.dll");
        Directory.CreateDirectory(Path.GetDirectoryName(first)!);
        Directory.CreateDirectory(Path.GetDirectoryName(second)!);
        File.Copy(original, first);
        File.Copy(original, second);

        using var catalog = PluginCatalog.Load(_dir.Path);
        Assert.Null(catalog.Find("pvpanic"));
        Assert.Equal([$"error: device kind 'pvpanic' is provided by both PvPanic ({first}) and PvPanic ({second}); remove one of them"],
            Lines(catalog));
    }

    [CheckoutFact]
    public void UsedKinds_LoadOnlyThePluginsDeclaringThem()
    {
        using var one = PluginCatalog.Load(RepoLayout.HostPlugins, usedKinds: ["pvpanic"]);
        Assert.Empty(Lines(one));
        Assert.Equal(["pvpanic"], one.Plugins.Select(p => p.Kind));

        using var none = PluginCatalog.Load(RepoLayout.HostPlugins, usedKinds: []);
        Assert.Empty(Lines(none));
        Assert.Empty(none.Plugins);
        Assert.Empty(none.Kinds);
    }

    [CheckoutFact]
    public void UsedKindThatNoPluginDeclares_LoadsEveryPlugin_SoTheUnknownKindMessageListsThemAll()
    {
        using var all = PluginCatalog.Load(RepoLayout.HostPlugins);
        using var catalog = PluginCatalog.Load(RepoLayout.HostPlugins, usedKinds: ["no-such-kind"]);
        Assert.Equal(all.Plugins.Select(p => p.Kind), catalog.Plugins.Select(p => p.Kind));
        Assert.Contains("virtio-block", catalog.Kinds.Keys);
    }

    [CheckoutFact]
    public void KindDeclaredTwice_IsStillAnError_WhenTheConfigDoesNotUseIt()
    {
        var original = Path.Combine(RepoLayout.HostPlugins, "PvPanic", "PvPanic.dll");
        var first = _dir.Combine("PvPanic", "PvPanic.dll");
        var second = _dir.Combine("ZPanic", "ZPanic.dll");
        Directory.CreateDirectory(Path.GetDirectoryName(first)!);
        Directory.CreateDirectory(Path.GetDirectoryName(second)!);
        File.Copy(original, first);
        File.Copy(original, second);

        using var catalog = PluginCatalog.Load(_dir.Path, usedKinds: []);
        Assert.True(catalog.HasErrors);
        Assert.Contains("device kind 'pvpanic' is provided by both", Assert.Single(catalog.Problems).Message);
    }

    [CheckoutFact]
    public void DeclaredKinds_AreReadFromMetadata_WithoutLoading()
    {
        var pvpanic = Path.Combine(RepoLayout.HostPlugins, "PvPanic", "PvPanic.dll");
        var shared = new[] { typeof(global::PluginVmm.Sdk.Plugins.IDevicePlugin).Assembly.GetName() };
        var check = SharedAssemblyCheck.Check("PvPanic", pvpanic, shared, "PluginVmm.Sdk");
        Assert.Null(check.Refusal);
        Assert.Equal(["pvpanic"], check.DeclaredKinds);

        var tomlyn = typeof(Tomlyn.TomlSerializer).Assembly.Location;
        Assert.Empty(SharedAssemblyCheck.Check("Tomlyn", tomlyn, shared, "PluginVmm.Sdk").DeclaredKinds);
    }

    [Fact]
    public void ConfigDocument_ListsTheKindsItsDevicesUse_Once()
    {
        var document = global::PluginVmm.Core.Config.ConfigLoader.Parse(
            "[vm]\n[[device]]\nkind = \"pvpanic\"\n[[device]]\nkind = \"virtio-block\"\n[[device]]\nkind = \"pvpanic\"\n[[device]]\nkind = 3\n",
            "t.toml", _dir.Path);
        Assert.Equal(["pvpanic", "virtio-block"], document.DeviceKinds.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void FromInstances_BuildsACatalogWithoutFiles()
    {
        using var catalog = PluginCatalog.FromInstances(TestPlugins.All.Values);
        Assert.Equal(["disk", "fragile", "gadget", "pvpanic"], catalog.Plugins.Select(p => p.Kind));
        Assert.Empty(catalog.Problems);
    }
}
