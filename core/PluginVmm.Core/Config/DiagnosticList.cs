using Tomlyn.Syntax;

namespace PluginVmm.Core.Config;

/// <summary>Collects every problem found in one config file, so all of them are reported at once.</summary>
internal sealed class DiagnosticList
{
    private readonly List<ConfigDiagnostic> _items = [];

    public DiagnosticList(string fileName) => FileName = fileName;

    /// <summary>The config file as the user named it.</summary>
    public string FileName { get; }

    public int Count => _items.Count;

    /// <summary>An independent copy, so loading devices does not change the document's own list.</summary>
    public DiagnosticList Clone()
    {
        var copy = new DiagnosticList(FileName);
        copy._items.AddRange(_items);
        return copy;
    }

    /// <summary>A problem at the start of <paramref name="node"/> (Tomlyn positions are 0-based).</summary>
    public void Add(SyntaxNodeBase node, string message) => Add(node.Span.Start, message);

    public void Add(TextPosition start, string message) =>
        _items.Add(new ConfigDiagnostic(FileName, start.Line + 1, start.Column + 1, message));

    public void AddAtFileStart(string message) => _items.Add(new ConfigDiagnostic(FileName, 1, 1, message));

    /// <summary>A problem with a command-line option or the file as a whole; it has no position.</summary>
    public void AddWithoutLocation(string message) => _items.Add(ConfigDiagnostic.WithoutLocation(message));

    public ConfigLocation LocationOf(SyntaxNodeBase node) =>
        new(FileName, node.Span.Start.Line + 1, node.Span.Start.Column + 1);

    /// <summary>Command-line problems first, then file problems in file order.</summary>
    public IReadOnlyList<ConfigDiagnostic> ToSortedList() =>
        [.. _items.OrderBy(d => d.File is null ? 0 : 1).ThenBy(d => d.Line).ThenBy(d => d.Column)];
}
