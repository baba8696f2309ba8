using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace PluginVmm.Core.Plugins;

/// <summary>
/// Reads a plugin's assembly references from its metadata, without loading it, and refuses a plugin compiled
/// against a newer version of an assembly the host shares with plugins (the SDK, the M.E.* abstractions). Such a
/// plugin would otherwise load "fine" and then expose no plugin types or throw ReflectionTypeLoadException.
/// The same read collects the kinds the assembly declares with <c>[assembly: DeviceKind("...")]</c>, so the host can
/// tell which plugins a config needs without loading any.
/// </summary>
internal static class SharedAssemblyCheck
{
    /// <summary>
    /// The result for one plugin dll: the reason to refuse it (or null), the SDK version it references and the
    /// device kinds it declares (empty: none declared).
    /// </summary>
    public readonly record struct Outcome(string? Refusal, Version? SdkVersion, IReadOnlyList<string> DeclaredKinds);

    private const string KindAttributeNamespace = "PluginVmm.Sdk.Plugins";
    private const string KindAttributeName = "DeviceKindAttribute";

    public static Outcome Check(string pluginName, string assemblyPath, IReadOnlyList<AssemblyName> shared, string sdkName)
    {
        try
        {
            using var stream = File.OpenRead(assemblyPath);
            using var pe = new PEReader(stream);
            if (!pe.HasMetadata) return new($"plugin {pluginName}: {Path.GetFileName(assemblyPath)} is not a .NET assembly", null, []);
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
                    return new($"plugin {pluginName} was built against {name} {reference.Version}; this host has {hostVersion}", sdkVersion, []);
                }
            }
            return new(null, sdkVersion, DeclaredKinds(metadata));
        }
        catch (Exception e) when (e is BadImageFormatException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            return new($"plugin {pluginName}: cannot read {Path.GetFileName(assemblyPath)}: {e.Message}", null, []);
        }
    }

    /// <summary>
    /// The string argument of every assembly-level DeviceKindAttribute. The attribute lives in the SDK, so its
    /// constructor is a MemberReference whose parent is a TypeReference; the value blob is the prolog 0x0001 and
    /// one SerString (ECMA-335 II.23.3). A malformed blob is a BadImageFormatException, handled by the caller.
    /// </summary>
    private static List<string> DeclaredKinds(MetadataReader metadata)
    {
        var kinds = new List<string>();
        foreach (var handle in metadata.GetAssemblyDefinition().GetCustomAttributes())
        {
            var attribute = metadata.GetCustomAttribute(handle);
            if (attribute.Constructor.Kind != HandleKind.MemberReference) continue;
            var parent = metadata.GetMemberReference((MemberReferenceHandle)attribute.Constructor).Parent;
            if (parent.Kind != HandleKind.TypeReference) continue;
            var type = metadata.GetTypeReference((TypeReferenceHandle)parent);
            if (!metadata.StringComparer.Equals(type.Name, KindAttributeName) ||
                !metadata.StringComparer.Equals(type.Namespace, KindAttributeNamespace)) continue;
            var blob = metadata.GetBlobReader(attribute.Value);
            if (blob.ReadUInt16() != 1) throw new BadImageFormatException("DeviceKind attribute blob without prolog");
            if (blob.ReadSerializedString() is { } kind) kinds.Add(kind);
        }
        return kinds;
    }
}
