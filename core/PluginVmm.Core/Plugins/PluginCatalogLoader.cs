using System.Reflection;
using System.Text.RegularExpressions;
using McMaster.NETCore.Plugins;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PluginVmm.Core.Config;
using PluginVmm.Sdk.Plugins;

namespace PluginVmm.Core.Plugins;

/// <summary>
/// Loads device plugins: for each <c>plugins/&lt;Name&gt;/&lt;Name&gt;.dll</c>, checks its shared-assembly
/// versions, loads it in its own non-collectible load context that shares the SDK and the M.E.* abstractions with
/// the host, registers its <see cref="IDevicePlugin"/> classes (public or internal) through Scrutor, creates them
/// from one service provider and checks what they declare. Nothing is dropped silently: every refusal is a
/// <see cref="PluginProblem"/>.
/// Given the kinds a config uses, it loads only the plugins that may provide them: a plugin whose assembly declares
/// its kinds (<see cref="DeviceKindAttribute"/>, read from metadata) and none of the used ones is checked but not
/// loaded. Loading plugins is most of the VMM's start-up otherwise. When a used kind is declared by no plugin, or a
/// kind by two, every plugin is loaded, so the messages (unknown kind and the kinds available, duplicates) are
/// those of a full load.
/// </summary>
internal sealed partial class PluginCatalogLoader(ILoggerFactory loggerFactory)
{
    /// <summary>Types whose assemblies plugins must share with the host for type identity to hold.</summary>
    private static readonly Type[] SharedTypes = [typeof(IDevicePlugin), typeof(ILogger), typeof(IServiceCollection)];

    private readonly ILogger _logger = loggerFactory.CreateLogger<PluginCatalog>();
    private readonly List<PluginProblem> _problems = [];

    [GeneratedRegex("^[a-z0-9]+(-[a-z0-9]+)*$")]
    private static partial Regex KindPattern();

    private sealed record LoadedAssembly(string Name, string Path, Assembly Assembly, Version? SdkVersion, IReadOnlyList<string> DeclaredKinds);

    private sealed record Candidate(string Name, string Path, SharedAssemblyCheck.Outcome Check);

    /// <param name="directory">The plugins folder.</param>
    /// <param name="usedKinds">The kinds the config uses, or null to load every plugin (<c>vmm plugins</c>).</param>
    public PluginCatalog Load(string directory, IReadOnlyCollection<string>? usedKinds = null)
    {
        directory = Path.GetFullPath(directory);
        PluginCatalogLog.Scanning(_logger, directory);
        var services = new ServiceCollection();
        services.AddSingleton(loggerFactory);
        services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));

        var assemblies = Directory.Exists(directory) ? LoadAssemblies(directory, usedKinds) : [];
        if (!Directory.Exists(directory)) Warn($"plugins folder not found: {directory}");

        if (assemblies.Count == 0)
        {
            // Nothing to compose (a config without devices): no container, which is a good part of a small VM's start-up.
            foreach (var problem in _problems) PluginCatalogLog.Problem(_logger, problem);
            return new PluginCatalog(directory, [], _problems, new LoggerOnlyServices(loggerFactory), null);
        }

        var countBefore = services.Count;
        services.Scan(scan => scan.FromAssemblies(assemblies.Select(a => a.Assembly))
            .AddClasses(classes => classes.AssignableTo<IDevicePlugin>(), publicOnly: false)
            .AsSelfWithInterfaces(i => i == typeof(IDevicePlugin))
            .WithSingletonLifetime());
        var pluginTypes = services.Skip(countBefore)
            .Where(d => d.ImplementationType is not null && d.ServiceType == d.ImplementationType)
            .Select(d => d.ImplementationType!)
            .ToList();

        var provider = services.BuildServiceProvider();
        var candidates = new List<PluginInfo>();
        foreach (var assembly in assemblies)
        {
            var types = pluginTypes.Where(t => t.Assembly == assembly.Assembly).ToList();
            if (types.Count == 0)
            {
                Warn($"plugin {assembly.Name} contains no IDevicePlugin implementation ({assembly.Path})", assembly.Path);
            }
            var provided = new List<PluginInfo>();
            var allDescribed = true;
            foreach (var type in types)
            {
                if (Describe(provider, type, assembly) is { } info) provided.Add(info);
                else allDescribed = false;
            }
            // a plugin that already failed has its error; the declaration is checked against working plugins only
            if (allDescribed && DeclarationMismatch(assembly, provided) is { } mismatch)
            {
                Error(mismatch, assembly.Path);
                continue;
            }
            candidates.AddRange(provided);
        }
        var usable = RejectDuplicateKinds(candidates);
        foreach (var info in usable) PluginCatalogLog.Loaded(_logger, info.Kind, info.AssemblyName, info.Version, info.AssemblyPath);
        foreach (var problem in _problems) PluginCatalogLog.Problem(_logger, problem);
        return new PluginCatalog(directory, usable, _problems, provider, provider);
    }

    private List<LoadedAssembly> LoadAssemblies(string directory, IReadOnlyCollection<string>? usedKinds)
    {
        var shared = SharedTypes.Select(t => t.Assembly.GetName()).ToList();
        var sdkName = typeof(IDevicePlugin).Assembly.GetName().Name!;
        var candidates = new List<Candidate>();
        foreach (var folder in Directory.EnumerateDirectories(directory).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(folder);
            var path = Path.GetFullPath(Path.Combine(folder, name + ".dll"));
            if (!File.Exists(path))
            {
                Warn($"plugin folder {folder} has no {name}.dll; skipped");
                continue;
            }
            var check = SharedAssemblyCheck.Check(name, path, shared, sdkName);
            if (check.Refusal is not null)
            {
                Error(check.Refusal, path);
                continue;
            }
            candidates.Add(new Candidate(name, path, check));
        }

        var loadAll = usedKinds is null || !DeclarationsSuffice(candidates, usedKinds);
        var loaded = new List<LoadedAssembly>();
        foreach (var (name, path, check) in candidates)
        {
            if (!loadAll && check.DeclaredKinds.Count > 0 && !check.DeclaredKinds.Any(usedKinds!.Contains))
            {
                PluginCatalogLog.NotNeeded(_logger, name, string.Join(", ", check.DeclaredKinds), path);
                continue;
            }
            try
            {
                var loader = PluginLoader.CreateFromAssemblyFile(path, SharedTypes, config =>
                {
                    // Devices own fds, mappings and vCPU-visible state: they are never unloaded or reloaded.
                    config.IsUnloadable = false;
                    config.PreferSharedTypes = false;
                    config.LoadInMemory = false;
                });
                var assembly = loader.LoadDefaultAssembly();
                loaded.Add(new LoadedAssembly(assembly.GetName().Name ?? name, path, assembly, check.SdkVersion, check.DeclaredKinds));
            }
            catch (Exception e) when (e is IOException or BadImageFormatException or ArgumentException or InvalidOperationException)
            {
                Error($"plugin {name} could not be loaded from {path}: {e.Message}", path);
            }
        }
        return loaded;
    }

    /// <summary>
    /// True when the declarations alone tell which plugins the used kinds need: each used kind is declared by a
    /// plugin and no kind is declared twice. Otherwise everything is loaded (see the class comment).
    /// </summary>
    private static bool DeclarationsSuffice(List<Candidate> candidates, IReadOnlyCollection<string> usedKinds)
    {
        var declared = candidates.SelectMany(c => c.Check.DeclaredKinds.Distinct(StringComparer.Ordinal)).ToList();
        return declared.Count == declared.Distinct(StringComparer.Ordinal).Count() &&
               usedKinds.All(k => declared.Contains(k, StringComparer.Ordinal));
    }

    /// <summary>A plugin that declares kinds must provide exactly those: the declaration decides whether it is loaded.</summary>
    private static string? DeclarationMismatch(LoadedAssembly assembly, List<PluginInfo> provided)
    {
        if (assembly.DeclaredKinds.Count == 0) return null;
        var declared = assembly.DeclaredKinds.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var actual = provided.Select(p => p.Kind).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        if (declared.SequenceEqual(actual, StringComparer.Ordinal)) return null;
        return $"plugin {assembly.Name} declares kind(s) {string.Join(", ", declared)} with [assembly: DeviceKind] " +
               $"but provides {(actual.Count == 0 ? "none" : string.Join(", ", actual))}; fix the declaration";
    }

    /// <summary>Creates the plugin and checks what it declares; null (and a problem) when it is unusable.</summary>
    private PluginInfo? Describe(IServiceProvider provider, Type type, LoadedAssembly assembly)
    {
        string kind;
        try
        {
            var plugin = (IDevicePlugin)provider.GetRequiredService(type);
            kind = plugin.Kind;
            if (kind is null || !KindPattern().IsMatch(kind))
            {
                Error($"plugin {assembly.Name}: {type.Name} declares kind '{kind}', which is not lower case letters, digits and '-'", assembly.Path);
                return null;
            }
            if (OptionsProblem(plugin.OptionsType) is { } optionsProblem)
            {
                Error($"plugin {assembly.Name}: kind '{kind}': {optionsProblem}", assembly.Path);
                return null;
            }
            return new PluginInfo
            {
                Kind = kind,
                Description = plugin.Description ?? "",
                Plugin = plugin,
                AssemblyName = assembly.Name,
                Version = VersionOf(assembly.Assembly),
                SdkVersion = assembly.SdkVersion,
                AssemblyPath = assembly.Path,
            };
        }
        catch (Exception e)
        {
            // Constructor or property of third-party code: report it and keep the other plugins.
            Error($"plugin {assembly.Name}: {type.FullName} failed: {(e is TargetInvocationException { InnerException: { } inner } ? inner : e).Message}", assembly.Path);
            return null;
        }
    }

    private static string? OptionsProblem(Type? optionsType)
    {
        if (optionsType is null || !typeof(DeviceOptions).IsAssignableFrom(optionsType) || optionsType.IsAbstract)
        {
            return $"OptionsType {optionsType?.Name ?? "null"} is not a concrete DeviceOptions subclass";
        }
        if (optionsType.GetConstructor(Type.EmptyTypes) is not { IsPublic: true })
        {
            return $"OptionsType {optionsType.Name} has no public parameterless constructor";
        }
        var schema = OptionsSchema.For(optionsType);
        var problems = schema.Problems.ToList();
        if (schema.Find("kind") is { } clash)
        {
            problems.Add($"property {optionsType.Name}.{clash.Property.Name} maps to 'kind', which selects the plugin and cannot be an option");
        }
        return problems.Count == 0 ? null : string.Join("; ", problems);
    }

    /// <summary>A kind provided twice is ambiguous: neither provider is used, and the error names all of them.</summary>
    private List<PluginInfo> RejectDuplicateKinds(List<PluginInfo> candidates)
    {
        var usable = new List<PluginInfo>();
        foreach (var group in candidates.GroupBy(c => c.Kind, StringComparer.Ordinal))
        {
            if (group.Count() == 1)
            {
                usable.Add(group.First());
                continue;
            }
            var providers = string.Join(" and ", group.Select(p => $"{p.AssemblyName} ({p.AssemblyPath})"));
            Error($"device kind '{group.Key}' is provided by both {providers}; remove one of them");
        }
        return usable;
    }

    private static string VersionOf(Assembly assembly)
    {
        var informational = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        if (!string.IsNullOrEmpty(informational)) return informational.Split('+')[0];
        return assembly.GetName().Version?.ToString() ?? "";
    }

    private void Warn(string message, string? path = null) => _problems.Add(new PluginProblem(PluginProblemSeverity.Warning, message, path));

    private void Error(string message, string? path = null) => _problems.Add(new PluginProblem(PluginProblemSeverity.Error, message, path));

    /// <summary>The catalog's services when no plugin was loaded: the logger factory, as the full container has it.</summary>
    private sealed class LoggerOnlyServices(ILoggerFactory loggerFactory) : IServiceProvider
    {
        public object? GetService(Type serviceType) => serviceType == typeof(ILoggerFactory) ? loggerFactory : null;
    }
}
