using System.Globalization;
using Tomlyn.Syntax;

namespace PluginVmm.Core.Config;

/// <summary>
/// Converts one TOML value to a property type: string, bool, the integer types (range-checked), float, double,
/// enums (from a string, ignoring case, '-' and '_'), their nullable forms, and arrays or lists of those.
/// Every failure becomes one diagnostic at the offending value; nothing throws.
/// </summary>
internal static class TomlValueConverter
{
    public static bool CanBind(Type type)
    {
        if (IsScalar(type)) return true;
        var element = ElementType(type);
        return element is not null && IsScalar(element);
    }

    private static bool IsScalar(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type == typeof(string) || type == typeof(bool) || type == typeof(double) || type == typeof(float)
            || type.IsEnum || IntegerRange(type) is not null;
    }

    /// <summary>Element type of T[], List&lt;T&gt; and the read-only/enumerable list interfaces; null otherwise.</summary>
    private static Type? ElementType(Type type)
    {
        if (type.IsArray) return type.GetElementType();
        if (!type.IsGenericType) return null;
        var definition = type.GetGenericTypeDefinition();
        return definition == typeof(List<>) || definition == typeof(IList<>) || definition == typeof(IReadOnlyList<>)
            || definition == typeof(IEnumerable<>) || definition == typeof(ICollection<>)
            || definition == typeof(IReadOnlyCollection<>)
            ? type.GetGenericArguments()[0]
            : null;
    }

    /// <summary>Inclusive range of an integer type, or null when <paramref name="type"/> is not one.</summary>
    public static (decimal Min, decimal Max)? IntegerRange(Type type) => type switch
    {
        _ when type == typeof(sbyte) => (sbyte.MinValue, sbyte.MaxValue),
        _ when type == typeof(byte) => (byte.MinValue, byte.MaxValue),
        _ when type == typeof(short) => (short.MinValue, short.MaxValue),
        _ when type == typeof(ushort) => (ushort.MinValue, ushort.MaxValue),
        _ when type == typeof(int) => (int.MinValue, int.MaxValue),
        _ when type == typeof(uint) => (uint.MinValue, uint.MaxValue),
        _ when type == typeof(long) => (long.MinValue, long.MaxValue),
        _ when type == typeof(ulong) => (ulong.MinValue, ulong.MaxValue),
        _ => null,
    };

    /// <summary>Converts <paramref name="value"/>; on failure adds a diagnostic naming <paramref name="label"/>.</summary>
    public static bool TryConvert(ValueSyntax value, Type target, string label, DiagnosticList diagnostics, out object? result)
    {
        result = null;
        var element = IsScalar(target) ? null : ElementType(target);
        if (element is null) return TryConvertScalar(value, target, label, diagnostics, out result);

        if (value is not ArraySyntax array)
        {
            diagnostics.Add(value, $"{label}: expected an array of {Plural(element)}, got {TomlSyntaxReader.Describe(value)}");
            return false;
        }
        var items = new List<object?>();
        var ok = true;
        var index = 0;
        foreach (var item in array.Items)
        {
            if (item.Value is null) continue;
            if (TryConvertScalar(item.Value, element, $"{label}[{index}]", diagnostics, out var converted)) items.Add(converted);
            else ok = false;
            index++;
        }
        if (!ok) return false;
        var typed = Array.CreateInstance(element, items.Count);
        for (var i = 0; i < items.Count; i++) typed.SetValue(items[i], i);
        result = target.IsArray || target.IsInterface && target.IsAssignableFrom(typed.GetType())
            ? typed
            : Activator.CreateInstance(typeof(List<>).MakeGenericType(element), typed);
        return true;
    }

    private static bool TryConvertScalar(ValueSyntax value, Type target, string label, DiagnosticList diagnostics, out object? result)
    {
        result = null;
        var type = Nullable.GetUnderlyingType(target) ?? target;
        switch (value)
        {
            case StringValueSyntax s when type == typeof(string):
                result = s.Value ?? "";
                return true;
            case StringValueSyntax s when type.IsEnum:
                return TryParseEnum(s, type, label, diagnostics, out result);
            case BooleanValueSyntax b when type == typeof(bool):
                result = b.Value;
                return true;
            case IntegerValueSyntax i when IntegerRange(type) is { } range:
                if (i.Value < range.Min || i.Value > range.Max)
                {
                    diagnostics.Add(value, $"{label}: {i.Value.ToString(CultureInfo.InvariantCulture)} is out of range {range.Min}..{range.Max}");
                    return false;
                }
                result = Convert.ChangeType(i.Value, type, CultureInfo.InvariantCulture);
                return true;
            case IntegerValueSyntax i when type == typeof(double) || type == typeof(float):
                result = Convert.ChangeType((double)i.Value, type, CultureInfo.InvariantCulture);
                return true;
            case FloatValueSyntax f when type == typeof(double) || type == typeof(float):
                result = Convert.ChangeType(f.Value, type, CultureInfo.InvariantCulture);
                return true;
        }
        diagnostics.Add(value, $"{label}: expected {Describe(type)}, got {TomlSyntaxReader.Describe(value)}");
        return false;
    }

    private static bool TryParseEnum(StringValueSyntax value, Type type, string label, DiagnosticList diagnostics, out object? result)
    {
        var wanted = Normalize(value.Value ?? "");
        foreach (var name in Enum.GetNames(type))
        {
            if (Normalize(name) != wanted) continue;
            result = Enum.Parse(type, name);
            return true;
        }
        result = null;
        diagnostics.Add(value, $"{label}: '{value.Value}' is not one of {string.Join(", ", EnumWords(type))}");
        return false;
    }

    private static string Normalize(string text) => text.Replace("-", "").Replace("_", "").ToLowerInvariant();

    private static IEnumerable<string> EnumWords(Type type) =>
        Enum.GetNames(type).Select(n => OptionsSchema.KeyFor(n).Replace('_', '-'));

    private static string Describe(Type type) => type switch
    {
        _ when type == typeof(string) => "a string",
        _ when type == typeof(bool) => "a boolean (true or false)",
        _ when type == typeof(double) || type == typeof(float) => "a number",
        _ when type.IsEnum => $"one of {string.Join(", ", EnumWords(type))} (as a string)",
        _ => "an integer",
    };

    private static string Plural(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type == typeof(string) ? "strings" : type == typeof(bool) ? "booleans"
            : type == typeof(double) || type == typeof(float) ? "numbers" : type.IsEnum ? "names" : "integers";
    }
}
