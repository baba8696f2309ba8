using System.Reflection;
using PluginVmm.Sdk.Pci;
using PluginVmm.Tests.Plugins;
using Xunit;

namespace PluginVmm.Tests.Sdk;

/// <summary>
/// The SDK's public API is frozen per major version (AssemblyVersion 1.0.0.0 across 1.x): every public or protected
/// type and member is listed in sdk/PluginVmm.Sdk/PublicAPI.txt, and this test fails on any difference, naming the
/// lines. Additions are a minor release (add the lines, bump Version); removals or changes break plugins built
/// against 1.x and need a new major line. Regenerate with PLUGINVMM_UPDATE_API=1 after deciding which it is.
/// </summary>
public sealed class PublicApiTests
{
    private static string ListingPath => Path.Combine(RepoLayout.Root!, "sdk", "PluginVmm.Sdk", "PublicAPI.txt");

    [CheckoutFact]
    public void Sdk_public_api_matches_PublicAPI_txt()
    {
        var actual = Listing(typeof(IPciDevice).Assembly);
        if (Environment.GetEnvironmentVariable("PLUGINVMM_UPDATE_API") == "1")
            File.WriteAllLines(ListingPath, actual);
        var expected = File.ReadAllLines(ListingPath).Where(l => l.Length > 0).ToList();
        var added = actual.Except(expected).ToList();
        var removed = expected.Except(actual).ToList();
        Assert.True(added.Count == 0 && removed.Count == 0,
            "The SDK's public API differs from sdk/PluginVmm.Sdk/PublicAPI.txt (PLUGINVMM_UPDATE_API=1 rewrites it):\n"
            + string.Join("\n", added.Select(a => "+ " + a).Concat(removed.Select(r => "- " + r))));
    }

    [Fact]
    public void Sdk_assembly_version_is_frozen_and_every_public_type_is_documented()
    {
        var sdk = typeof(IPciDevice).Assembly;
        Assert.Equal(new Version(1, 0, 0, 0), sdk.GetName().Version);
        // GenerateDocumentationFile + warnings as errors already refuse an undocumented public member at build time;
        // this checks that the XML file ships beside the assembly (the package carries it).
        Assert.True(File.Exists(Path.ChangeExtension(sdk.Location, ".xml")), "PluginVmm.Sdk.xml is not beside PluginVmm.Sdk.dll");
    }

    /// <summary>One sorted line per public type and per public or protected member of visible types.</summary>
    internal static List<string> Listing(Assembly assembly)
    {
        var lines = new List<string>();
        foreach (var type in assembly.GetExportedTypes())
        {
            lines.Add($"{TypeKind(type)} {Name(type)}{Bases(type)}");
            const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
            foreach (var member in type.GetMembers(all))
            {
                if (Describe(type, member) is { } line) lines.Add($"{Name(type)}::{line}");
            }
        }
        lines.Sort(StringComparer.Ordinal);
        return lines;
    }

    private static string TypeKind(Type t) =>
        t.IsEnum ? "enum" : t.IsInterface ? "interface" : t.IsValueType ? (t.IsDefined(typeof(System.Runtime.CompilerServices.IsReadOnlyAttribute)) ? "readonly struct" : "struct")
        : typeof(Delegate).IsAssignableFrom(t) ? "delegate"
        : t.IsAbstract && t.IsSealed ? "static class" : t.IsAbstract ? "abstract class" : t.IsSealed ? "sealed class" : "class";

    private static string Bases(Type t)
    {
        var parts = new List<string>();
        if (t.BaseType is { } b && b != typeof(object) && b != typeof(ValueType) && b != typeof(Enum) && b != typeof(MulticastDelegate)) parts.Add(Name(b));
        parts.AddRange(t.GetInterfaces().Where(i => i.IsPublic || i.IsNestedPublic).Select(Name).Order(StringComparer.Ordinal));
        return parts.Count == 0 ? "" : " : " + string.Join(", ", parts);
    }

    private static bool Visible(MethodBase? m) => m is not null && (m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly);

    private static string? Describe(Type owner, MemberInfo member)
    {
        switch (member)
        {
            case ConstructorInfo c when Visible(c):
                return $"ctor({Parameters(c)})";
            case MethodInfo m when Visible(m) && !m.IsSpecialName:
                return $"{Modifiers(m)}{Name(m.ReturnType)} {m.Name}{Generic(m)}({Parameters(m)})";
            case PropertyInfo p when Visible(p.GetMethod) || Visible(p.SetMethod):
                var accessors = (Visible(p.GetMethod) ? "get; " : "")
                    + (Visible(p.SetMethod) ? (p.SetMethod!.ReturnParameter.GetRequiredCustomModifiers().Any(m => m.Name == "IsExternalInit") ? "init; " : "set; ") : "");
                var index = p.GetIndexParameters();
                string name = index.Length == 0 ? p.Name : $"this[{string.Join(", ", index.Select(i => Name(i.ParameterType)))}]";
                return $"{Modifiers(p.GetMethod ?? p.SetMethod!)}{Name(p.PropertyType)} {name} {{ {accessors}}}";
            case FieldInfo f when (f.IsPublic || f.IsFamily) && !f.IsSpecialName:
                string value = f.IsLiteral ? $" = {f.GetRawConstantValue()}" : "";
                return $"{(f.IsLiteral ? "const " : f.IsStatic ? "static " : "")}{(f.IsInitOnly ? "readonly " : "")}{Name(f.FieldType)} {f.Name}{value}";
            case EventInfo e when Visible(e.AddMethod):
                return $"event {Name(e.EventHandlerType!)} {e.Name}";
            default:
                return null;
        }
    }

    private static string Modifiers(MethodInfo m) =>
        (m.IsFamily || m.IsFamilyOrAssembly ? "protected " : "") + (m.IsStatic ? "static " : "")
        + (m.IsAbstract && !m.DeclaringType!.IsInterface ? "abstract " : m.IsVirtual && !m.IsFinal && !m.DeclaringType!.IsInterface ? "virtual " : "");

    private static string Generic(MethodInfo m) => m.IsGenericMethod ? $"<{string.Join(", ", m.GetGenericArguments().Select(a => a.Name))}>" : "";

    private static string Parameters(MethodBase m) =>
        string.Join(", ", m.GetParameters().Select(p => $"{(p.IsOut ? "out " : p.ParameterType.IsByRef ? "ref " : "")}{Name(p.ParameterType)} {p.Name}{(p.HasDefaultValue ? " = " + (p.DefaultValue is string s ? $"\"{s}\"" : p.DefaultValue ?? "null") : "")}"));

    private static string Name(Type t)
    {
        if (t.IsByRef) return Name(t.GetElementType()!);
        if (t.IsArray) return Name(t.GetElementType()!) + "[]";
        if (t.IsGenericParameter) return t.Name;
        string name = (t.IsNested ? Name(t.DeclaringType!) + "." + t.Name : t.Namespace is { } ns ? ns + "." + t.Name : t.Name);
        if (!t.IsGenericType) return name;
        int tick = name.IndexOf('`');
        if (tick >= 0) name = name[..tick];
        return $"{name}<{string.Join(", ", t.GetGenericArguments().Select(Name))}>";
    }
}
