using PluginVmm.Core.Plugins;

namespace PluginVmm.Cli;

/// <summary>Formats plugins as an aligned plain-text table (no colours: the output is meant to be piped too).</summary>
internal static class PluginTable
{
    private static readonly string[] Headers = ["KIND", "ASSEMBLY", "VERSION", "PATH", "DESCRIPTION"];

    public static void Write(TextWriter output, IReadOnlyList<PluginInfo> plugins)
    {
        var rows = plugins.Select(p => new[] { p.Kind, p.AssemblyName, p.Version, p.AssemblyPath, p.Description }).ToList();
        var widths = Headers.Select((h, i) => rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        WriteRow(output, Headers, widths);
        foreach (var row in rows) WriteRow(output, row, widths);
    }

    private static void WriteRow(TextWriter output, string[] cells, int[] widths)
    {
        // The last column is not padded, so lines carry no trailing spaces.
        var padded = cells.Select((c, i) => i == cells.Length - 1 ? c : c.PadRight(widths[i]));
        output.WriteLine(string.Join("  ", padded));
    }
}
