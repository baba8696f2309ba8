using System.Reflection;

namespace PluginVmm.Tests.Plugins;

/// <summary>Where the sources and the built host are, found from the test assembly's own location.</summary>
internal static class RepoLayout
{
    /// <summary>The repository root (the folder holding PluginVmm.sln), or null when the tests run outside a checkout.</summary>
    public static string? Root { get; } = FindRoot();

    /// <summary>Debug or Release: the configuration the tests (and so the host they reference) were built in.</summary>
    public static string Configuration { get; } =
        typeof(RepoLayout).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";

    /// <summary>Build output of the vmm host, which the host's build fills with plugins/&lt;Name&gt;/&lt;Name&gt;.dll.</summary>
    public static string HostOutput => Path.Combine(Root ?? throw new InvalidOperationException("no repository checkout"),
        "core", "PluginVmm", "bin", Configuration, "net10.0");

    public static string HostPlugins => Path.Combine(HostOutput, "plugins");

    /// <summary>Why tests that need the checkout cannot run, or null.</summary>
    public static string? UnavailableReason =>
        Root is null ? $"no PluginVmm.sln above {AppContext.BaseDirectory}: the tests do not run from a checkout"
        : !File.Exists(Path.Combine(HostOutput, "vmm.dll")) ? $"the host is not built at {HostOutput}"
        : null;

    private static string? FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "PluginVmm.sln"))) return dir.FullName;
        }
        return null;
    }
}
