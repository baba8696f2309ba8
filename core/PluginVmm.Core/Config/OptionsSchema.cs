using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using System.Reflection;
using System.Text.Json;
using PluginVmm.Sdk.Plugins;

namespace PluginVmm.Core.Config;

/// <summary>One bindable property of an options type and the TOML key it answers to.</summary>
/// <param name="IsPath">Marked [PathOption]: relative values resolve against the config file's folder.</param>
internal sealed record OptionProperty(string Key, PropertyInfo Property, RequiredAttribute? Required,
    IReadOnlyList<ValidationAttribute> Checks, bool IsPath);

/// <summary>
/// The keys an options type accepts: its public instance properties with a public setter (or init), each under
/// the snake_case of its name (<c>SizeMib</c> ← <c>size_mib</c>). Built once per type by reflection.
/// </summary>
internal sealed class OptionsSchema
{
    private static readonly ConcurrentDictionary<Type, OptionsSchema> Cache = new();

    private OptionsSchema(Type type, IReadOnlyList<OptionProperty> properties, IReadOnlyList<string> problems)
    {
        Type = type;
        Properties = properties;
        Problems = problems;
    }

    public Type Type { get; }

    public IReadOnlyList<OptionProperty> Properties { get; }

    /// <summary>Why the type cannot be bound (plugin bugs such as an unsupported property type); empty when fine.</summary>
    public IReadOnlyList<string> Problems { get; }

    public OptionProperty? Find(string key) => Properties.FirstOrDefault(p => p.Key == key);

    public static string KeyFor(string propertyName) => JsonNamingPolicy.SnakeCaseLower.ConvertName(propertyName);

    public static OptionsSchema For(Type type) => Cache.GetOrAdd(type, Build);

    /// <summary>"Dictionary&lt;String, Int32&gt;" rather than "Dictionary`2".</summary>
    private static string FriendlyName(Type type) => type.IsGenericType
        ? $"{type.Name[..type.Name.IndexOf('`')]}<{string.Join(", ", type.GetGenericArguments().Select(FriendlyName))}>"
        : type.Name;

    private static OptionsSchema Build(Type type)
    {
        var properties = new List<OptionProperty>();
        var problems = new List<string>();
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length != 0 || property.SetMethod is not { IsPublic: true }) continue;
            var key = KeyFor(property.Name);
            if (!TomlValueConverter.CanBind(property.PropertyType))
            {
                problems.Add($"property {type.Name}.{property.Name} has type {FriendlyName(property.PropertyType)}, which a TOML value cannot bind to");
                continue;
            }
            if (properties.Any(p => p.Key == key))
            {
                problems.Add($"two properties of {type.Name} map to the key '{key}'");
                continue;
            }
            var checks = property.GetCustomAttributes<ValidationAttribute>(inherit: true).ToList();
            var required = checks.OfType<RequiredAttribute>().FirstOrDefault();
            var isPath = property.IsDefined(typeof(PathOptionAttribute), inherit: true);
            if (isPath && property.PropertyType != typeof(string))
            {
                problems.Add($"property {type.Name}.{property.Name} is marked [PathOption] but is not a string");
                continue;
            }
            properties.Add(new OptionProperty(key, property, required, [.. checks.Where(c => c is not RequiredAttribute)], isPath));
        }
        return new OptionsSchema(type, properties, problems);
    }
}
