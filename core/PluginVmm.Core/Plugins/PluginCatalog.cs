using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PluginVmm.Sdk.Plugins;

namespace PluginVmm.Core.Plugins;

/// <summary>
/// The device kinds available to this host: kind → <see cref="PluginInfo"/>, plus every problem met while
/// loading (refused plugins, duplicate kinds, assemblies without plugins). Built by <see cref="PluginCatalogLoader"/>.
/// Plugins are never unloaded; disposing releases the service provider that created them.
/// </summary>
public sealed class PluginCatalog : IDisposable
{
    private readonly Dictionary<string, PluginInfo> _byKind;
    private readonly IDisposable? _owned;

    internal PluginCatalog(string directory, IEnumerable<PluginInfo> plugins, IReadOnlyList<PluginProblem> problems,
        IServiceProvider services, IDisposable? owned)
    {
        Directory = directory;
        _byKind = plugins.ToDictionary(p => p.Kind, StringComparer.Ordinal);
        Plugins = [.. _byKind.Values.OrderBy(p => p.Kind, StringComparer.Ordinal)];
        Kinds = _byKind.ToDictionary(p => p.Key, p => p.Value.Plugin, StringComparer.Ordinal);
        Problems = problems;
        Services = services;
        _owned = owned;
    }

    /// <summary>Absolute folder the plugins came from.</summary>
    public string Directory { get; }

    /// <summary>Usable plugins, ordered by kind.</summary>
    public IReadOnlyList<PluginInfo> Plugins { get; }

    /// <summary>Kind → plugin, the shape <see cref="Config.ConfigLoader"/> takes.</summary>
    public IReadOnlyDictionary<string, IDevicePlugin> Kinds { get; }

    /// <summary>Everything refused or suspicious, in discovery order.</summary>
    public IReadOnlyList<PluginProblem> Problems { get; }

    /// <summary>True when a plugin was refused or a kind is ambiguous.</summary>
    public bool HasErrors => Problems.Any(p => p.Severity == PluginProblemSeverity.Error);

    /// <summary>The container the plugins were created from (holds the host's ILoggerFactory and ILogger&lt;T&gt;).</summary>
    public IServiceProvider Services { get; }

    /// <summary>The plugin for <paramref name="kind"/>, or null.</summary>
    public PluginInfo? Find(string kind) => _byKind.GetValueOrDefault(kind);

    /// <summary>Loads <c>&lt;dir&gt;/&lt;Name&gt;/&lt;Name&gt;.dll</c> for every subfolder; see <see cref="PluginCatalogLoader"/>.</summary>
    /// <param name="directory">The plugins folder.</param>
    /// <param name="loggerFactory">Logging for the loader and the plugins.</param>
    /// <param name="usedKinds">
    /// The kinds a config uses: plugins that declare other kinds only (<c>[assembly: DeviceKind]</c>) are checked
    /// but not loaded, so they are missing from <see cref="Plugins"/>. Null loads every plugin.
    /// </param>
    public static PluginCatalog Load(string directory, ILoggerFactory? loggerFactory = null, IReadOnlyCollection<string>? usedKinds = null) =>
        new PluginCatalogLoader(loggerFactory ?? NullLoggerFactory.Instance).Load(directory, usedKinds);

    /// <summary>A catalog of plugins that are already instances (tests, tools); no files are involved.</summary>
    public static PluginCatalog FromInstances(IEnumerable<IDevicePlugin> plugins, string directory = "")
    {
        var infos = plugins.Select(p => new PluginInfo
        {
            Kind = p.Kind,
            Description = p.Description,
            Plugin = p,
            AssemblyName = p.GetType().Assembly.GetName().Name ?? "",
            Version = p.GetType().Assembly.GetName().Version?.ToString() ?? "",
            AssemblyPath = p.GetType().Assembly.Location,
        });
        return new PluginCatalog(directory, infos, [], new ServiceCollection().BuildServiceProvider(), null);
    }

    /// <inheritdoc/>
    public void Dispose() => _owned?.Dispose();
}
