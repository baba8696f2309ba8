using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace PluginVmm.Core.Plugins;

/// <summary>
/// Reads a plugin's assembly references from its metadata, without loading it, and refuses a plugin compiled
/// against a newer version of an assembly the host shares with plugins (the SDK, the M.E.* abstractions). Such a
/// plugin would otherwise load "fine" and then expose no plugin types or throw ReflectionTypeLoadException.
/// </summary>
internal static class SharedAssemblyCheck
{
    /// <summary>The result for one plugin dll: the reason to refuse it (or null) and the SDK version it references.</summary>
    public readonly record struct Outcome(string? Refusal, Version? SdkVersion);

    public static Outcome Check(string pluginName, string assemblyPath, IReadOnlyList<AssemblyName> shared, string sdkName)
    {
        try
        {
            using var stream = File.OpenRead(assemblyPath);
            using var pe = new PEReader(stream);
            if (!pe.HasMetadata) return new($"plugin {pluginName}: {Path.GetFileName(assemblyPath)} is not a .NET assembly", null);
            var metadata = pe.GetMetadataReader();
            Version? sdkVersion = null;
            foreach (var handle in metadata.AssemblyReferences)
            {
                var reference = metadata.GetAssemblyReference(handle);
                var name = metadata.GetString(reference.Name);
                if (name == sdkName) sdkVersion = reference.Version;
                var host = shared.FirstOrDefault(a => a.Name == name);
                if (host?.Version is { } hostVersion && reference.Version > hostVersion)
                {
                    return new($"plugin {pluginName} was built against {name} {reference.Version}; this host has {hostVersion}", sdkVersion);
                }
            }
            return new(null, sdkVersion);
        }
        catch (Exception e) when (e is BadImageFormatException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return new($"plugin {pluginName}: cannot read {Path.GetFileName(assemblyPath)}: {e.Message}", null);
        }
    }
}
