using Tomlyn.Syntax;

namespace PluginVmm.Core.Config;

/// <summary>One <c>key = value</c> line, with the key as written (dotted parts joined by '.').</summary>
internal sealed record TomlEntry(string Key, KeySyntax KeyNode, ValueSyntax Value);

/// <summary>A <c>[table]</c> or one <c>[[array-table]]</c> element; <see cref="Header"/> is null for the root.</summary>
internal sealed record TomlSection(string Name, SyntaxNodeBase? Header, IReadOnlyList<TomlEntry> Entries)
{
    public TomlEntry? Find(string key) => Entries.FirstOrDefault(e => e.Key == key);
}

/// <summary>Turns Tomlyn syntax nodes into the plain names and sections the loader checks.</summary>
internal static class TomlSyntaxReader
{
    public static string KeyText(KeySyntax? key)
    {
        if (key is null) return "";
        var parts = new List<string> { PartText(key.Key) };
        if (key.DotKeys is { } dots)
        {
            foreach (var dot in dots) parts.Add(PartText(dot.Key));
        }
        return string.Join('.', parts);
    }

    private static string PartText(BareKeyOrStringValueSyntax? part) => part switch
    {
        BareKeySyntax bare => bare.Key?.Text ?? "",
        StringValueSyntax quoted => quoted.Value ?? "",
        _ => "",
    };

    public static List<TomlEntry> Entries(IEnumerable<KeyValueSyntax> keyValues) =>
        [.. keyValues.Where(kv => kv.Key is not null && kv.Value is not null)
            .Select(kv => new TomlEntry(KeyText(kv.Key), kv.Key!, kv.Value!))];

    /// <summary>How a value is named in "expected X, got Y" messages.</summary>
    public static string Describe(ValueSyntax value) => value switch
    {
        StringValueSyntax => "a string",
        IntegerValueSyntax => "an integer",
        FloatValueSyntax => "a float",
        BooleanValueSyntax => "a boolean",
        DateTimeValueSyntax => "a date-time",
        ArraySyntax => "an array",
        InlineTableSyntax => "an inline table",
        _ => "an unsupported value",
    };
}
