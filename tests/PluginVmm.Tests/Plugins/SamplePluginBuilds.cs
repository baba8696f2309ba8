using PluginVmm.Sdk.Plugins;
using PluginVmm.Tests.Config;
using Xunit;

namespace PluginVmm.Tests.Plugins;

/// <summary>
/// Builds third-party plugins the way an outside author would, once for all tests of the "sample plugins"
/// collection: samples/Acme.Widget against the current SDK, the same sample against an SDK whose AssemblyVersion
/// is one major version newer, Acme.Mixed (written here) holding one good and several broken plugin classes, and
/// samples/Acme.Faulty (a plugin that throws from the callback its options name).
/// Each build runs on a copy of the SDK and sample sources in a temp folder, so it never touches the obj/ or bin/
/// folders of the checkout that other builds use.
/// </summary>
public sealed class SamplePluginBuilds : IDisposable
{
    private readonly TempDirectory _temp = new("pluginvmm-samples");

    public SamplePluginBuilds()
    {
        if (RepoLayout.UnavailableReason is not null) return;
        var current = Task.Run(() => BuildCurrentSdkTree());
        var newer = Task.Run(() => BuildNewerSdkTree());
        Task.WaitAll(current, newer);
    }

    public static Version HostSdkVersion => typeof(IDevicePlugin).Assembly.GetName().Version!;

    public static Version NewerSdkVersion => new(HostSdkVersion.Major + 1, 0, 0, 0);

    /// <summary>plugins/Acme.Widget built against the host's SDK.</summary>
    public string CurrentPlugins => _temp.Combine("current-plugins");

    /// <summary>plugins/Acme.Widget built against a newer SDK AssemblyVersion.</summary>
    public string NewerSdkPlugins => _temp.Combine("newer-plugins");

    /// <summary>plugins/Acme.Faulty: the sample that throws on purpose.</summary>
    public string FaultyPlugins => _temp.Combine("faulty-plugins");

    /// <summary>plugins/Acme.Mixed: good and broken plugin classes in one assembly.</summary>
    public string MixedPlugins => _temp.Combine("mixed-plugins");

    public void Dispose() => _temp.Dispose();

    private void BuildCurrentSdkTree()
    {
        var tree = CopySources("current-src");
        Publish(tree, "samples/Acme.Widget/Acme.Widget.csproj", Path.Combine(CurrentPlugins, "Acme.Widget"));
        WriteMixedProject(tree);
        Publish(tree, "samples/Acme.Mixed/Acme.Mixed.csproj", Path.Combine(MixedPlugins, "Acme.Mixed"));
        Publish(tree, "samples/Acme.Faulty/Acme.Faulty.csproj", Path.Combine(FaultyPlugins, "Acme.Faulty"));
    }

    private void BuildNewerSdkTree()
    {
        var tree = CopySources("newer-src");
        // The global property reaches the referenced SDK project too: the plugin references PluginVmm.Sdk at the newer version.
        Publish(tree, "samples/Acme.Widget/Acme.Widget.csproj", Path.Combine(NewerSdkPlugins, "Acme.Widget"),
            $"-p:AssemblyVersion={NewerSdkVersion}");
    }

    /// <summary>Copies what an outside plugin build needs: the SDK, the sample and the repo-wide build settings.</summary>
    private string CopySources(string name)
    {
        var root = RepoLayout.Root!;
        var tree = _temp.Combine(name);
        foreach (var file in new[] { "Directory.Build.props", "Directory.Packages.props" })
        {
            Directory.CreateDirectory(tree);
            File.Copy(Path.Combine(root, file), Path.Combine(tree, file));
        }
        CopyFolder(Path.Combine(root, "sdk", "PluginVmm.Sdk"), Path.Combine(tree, "sdk", "PluginVmm.Sdk"));
        CopyFolder(Path.Combine(root, "samples", "Acme.Widget"), Path.Combine(tree, "samples", "Acme.Widget"));
        CopyFolder(Path.Combine(root, "samples", "Acme.Faulty"), Path.Combine(tree, "samples", "Acme.Faulty"));
        return tree;
    }

    /// <summary>Copies a source folder without its build output (bin/, obj/).</summary>
    internal static void CopyFolder(string from, string to)
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

    private static void Publish(string tree, string project, string publishDir, params string[] extra)
    {
        var result = ProcessRunner.Run("dotnet",
            ["publish", Path.Combine(tree, project), "-c", "Debug", $"-p:PublishDir={publishDir}/", "-nologo", .. extra]);
        if (result.ExitCode != 0) throw new InvalidOperationException($"dotnet publish {project} failed:\n{result}");
    }

    private static void WriteMixedProject(string tree)
    {
        var dir = Path.Combine(tree, "samples", "Acme.Mixed");
        Directory.CreateDirectory(dir);
        var csproj = File.ReadAllText(Path.Combine(tree, "samples", "Acme.Widget", "Acme.Widget.csproj")).Replace("Acme.Widget", "Acme.Mixed");
        File.WriteAllText(Path.Combine(dir, "Acme.Mixed.csproj"), csproj);
        File.WriteAllText(Path.Combine(dir, "Plugins.cs"), MixedSource);
    }

    private const string MixedSource = """
        using Microsoft.Extensions.Logging;
        using PluginVmm.Sdk.Pci;
        using PluginVmm.Sdk.Plugins;

        namespace Acme.Mixed;

        /// <summary>Good: takes the host's logger through constructor injection.</summary>
        public sealed class LoggedPlugin(ILogger<LoggedPlugin> logger) : DevicePlugin<NoOptions>
        {
            public override string Kind => "acme-logged";
            public override string Description => logger is null ? "no logger" : "has a logger";
            protected override IPciDevice Create(NoOptions options, IDeviceContext context) => throw new NotSupportedException();
        }

        public sealed class BadKindPlugin : DevicePlugin<NoOptions>
        {
            public override string Kind => "Not A Kind";
            public override string Description => "";
            protected override IPciDevice Create(NoOptions options, IDeviceContext context) => throw new NotSupportedException();
        }

        public sealed class ThrowingPlugin : DevicePlugin<NoOptions>
        {
            public ThrowingPlugin() => throw new InvalidOperationException("widget firmware missing");
            public override string Kind => "acme-throwing";
            public override string Description => "";
            protected override IPciDevice Create(NoOptions options, IDeviceContext context) => throw new NotSupportedException();
        }

        public sealed class UnbindableOptions : DeviceOptions
        {
            public Dictionary<string, int> Map { get; set; } = new();
        }

        public sealed class UnbindablePlugin : DevicePlugin<UnbindableOptions>
        {
            public override string Kind => "acme-unbindable";
            public override string Description => "";
            protected override IPciDevice Create(UnbindableOptions options, IDeviceContext context) => throw new NotSupportedException();
        }

        public sealed class ClashOptions : DeviceOptions
        {
            public string Kind { get; set; } = "";
        }

        public sealed class ClashPlugin : DevicePlugin<ClashOptions>
        {
            public override string Kind => "acme-clash";
            public override string Description => "";
            protected override IPciDevice Create(ClashOptions options, IDeviceContext context) => throw new NotSupportedException();
        }

        /// <summary>Abstract: never instantiated, not reported.</summary>
        public abstract class AbstractPlugin : DevicePlugin<NoOptions>
        {
        }
        """;
}

/// <summary>Tests that share <see cref="SamplePluginBuilds"/> (built once, run one after another).</summary>
[CollectionDefinition(Name)]
public sealed class SamplePluginsCollection : ICollectionFixture<SamplePluginBuilds>
{
    public const string Name = "sample plugins";
}

/// <summary>A fact that needs the checkout (sources and the built host); skipped, saying why, without one.</summary>
public sealed class CheckoutFactAttribute : FactAttribute
{
    public CheckoutFactAttribute()
    {
        if (RepoLayout.UnavailableReason is { } why) Skip = why;
    }
}
