using PluginVmm.Sdk.Plugins;
using Tomlyn;
using Tomlyn.Parsing;
using Tomlyn.Syntax;

namespace PluginVmm.Core.Config;

/// <summary>
/// Reads vmm.toml into a <see cref="VmConfig"/> or a list of <see cref="ConfigDiagnostic"/>s. Pure apart from
/// reading the file and checking that the paths it names exist: it creates no VM and opens no device.
/// </summary>
public static class ConfigLoader
{
    /// <summary>Plugins folder when neither the file nor the command line names one: beside the installed host.</summary>
    public static string DefaultPluginsDir => Path.Combine(AppContext.BaseDirectory, "plugins");

    /// <summary>Reads, checks and binds a config file in one step (for tests and tools that already have plugins).</summary>
    public static ConfigResult Load(string path, IReadOnlyDictionary<string, IDevicePlugin> plugins, ConfigOverrides? overrides = null) =>
        Load(Read(path, overrides), plugins);

    /// <summary>Step 1: parses the file and checks <c>[vm]</c> with <paramref name="overrides"/> applied.</summary>
    /// <param name="path">The file, as the user gave it; messages use this spelling.</param>
    /// <param name="overrides">Command-line values.</param>
    public static ConfigDocument Read(string path, ConfigOverrides? overrides = null)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            var diagnostics = new DiagnosticList(path);
            diagnostics.AddWithoutLocation(File.Exists(path) || Directory.Exists(path)
                ? $"cannot read config file '{path}': {e.Message}"
                : $"config file not found: '{path}'");
            return new ConfigDocument(path, Directory.GetCurrentDirectory(), diagnostics) { IsUnreadable = true };
        }
        var directory = Path.GetDirectoryName(Path.GetFullPath(path)) ?? Directory.GetCurrentDirectory();
        return Parse(text, path, directory, overrides);
    }

    /// <summary>Step 1 from text: <paramref name="fileName"/> is used in messages, <paramref name="directory"/> to resolve paths.</summary>
    public static ConfigDocument Parse(string text, string fileName, string directory, ConfigOverrides? overrides = null)
    {
        var diagnostics = new DiagnosticList(fileName);
        var document = new ConfigDocument(fileName, Path.GetFullPath(directory), diagnostics);

        // Structural validation (duplicate keys and tables) is done below with our own messages; Tomlyn's
        // validation would report them as well, in its own words.
        DocumentSyntax syntax;
        try
        {
            syntax = SyntaxParser.Parse(text, fileName, validate: false);
        }
        catch (ArgumentException e)
        {
            // Tomlyn's lexer throws (char.ConvertFromUtf32 on end-of-file) when the file ends inside a basic string
            // right after a backslash, e.g. a truncated `kernel = "C:\` (found by the config fuzzer).
            int backslash = text.LastIndexOf('\\');
            diagnostics.Add(backslash < 0 ? default : PositionOf(text, backslash), backslash < 0 ? $"syntax error: {e.Message}"
                : "syntax error: the file ends inside a string, after a backslash (an unfinished escape sequence)");
            document.IsUnreadable = true;
            return document;
        }
        catch (TomlException e)
        {
            // Thrown, not reported, when arrays or inline tables nest deeper than Tomlyn's limit (64).
            var at = e.Span is { } span ? new TextPosition(span.Start.Offset, span.Start.Line, span.Start.Column) : default;
            diagnostics.Add(at, e.Message.Contains("maximum depth", StringComparison.Ordinal)
                ? "syntax error: arrays or inline tables nested more than 64 levels deep" : $"syntax error: {e.Message}");
            document.IsUnreadable = true;
            return document;
        }
        if (syntax.Diagnostics.FirstOrDefault(d => d.Kind == DiagnosticMessageKind.Error) is { } syntaxError)
        {
            // Only the first: after a syntax error Tomlyn's recovery reports follow-on errors that are not real.
            diagnostics.Add(syntaxError.Span.Start, $"syntax error: {syntaxError.Message}");
            document.IsUnreadable = true;
            return document;
        }

        var (vm, devices) = SplitTables(syntax, diagnostics);
        document.DeviceSections = devices;
        VmSectionChecker.Apply(document, vm, overrides ?? ConfigOverrides.None);
        return document;
    }

    /// <summary>The 0-based position of character <paramref name="index"/> of <paramref name="text"/>.</summary>
    private static TextPosition PositionOf(string text, int index)
    {
        int line = 0, lineStart = 0;
        for (int i = 0; i < index; i++)
        {
            if (text[i] != '\n') continue;
            line++;
            lineStart = i + 1;
        }
        return new TextPosition(index, line, index - lineStart);
    }

    /// <summary>Step 2: binds every <c>[[device]]</c> to its plugin's options and lets the plugin validate them.</summary>
    public static ConfigResult Load(ConfigDocument document, IReadOnlyDictionary<string, IDevicePlugin> plugins)
    {
        if (document.IsUnreadable) return ConfigResult.Failure(document.Diagnostics);
        var diagnostics = document.DiagnosticList.Clone();
        var devices = new DeviceBinder(document, plugins, diagnostics).BindAll();
        if (diagnostics.Count > 0 || document.KernelPath is null) return ConfigResult.Failure(diagnostics.ToSortedList());

        return ConfigResult.Success(new VmConfig
        {
            ConfigPath = document.FileName,
            ConfigDirectory = document.Directory,
            MemoryMib = document.MemoryMib,
            Vcpus = document.Vcpus,
            KernelPath = document.KernelPath,
            InitramfsPath = document.InitramfsPath,
            Cmdline = document.Cmdline,
            PluginsDir = document.PluginsDir,
            Devices = devices,
        });
    }

    /// <summary>Finds <c>[vm]</c> and the <c>[[device]]</c> tables; anything else at top level is an error.</summary>
    private static (TomlSection? Vm, List<TomlSection> Devices) SplitTables(DocumentSyntax syntax, DiagnosticList diagnostics)
    {
        foreach (var entry in TomlSyntaxReader.Entries(syntax.KeyValues))
        {
            diagnostics.Add(entry.KeyNode, $"unknown top-level key '{entry.Key}'; settings go in the [vm] table or in [[device]] tables");
        }

        TomlSection? vm = null;
        var devices = new List<TomlSection>();
        foreach (var table in syntax.Tables)
        {
            var name = TomlSyntaxReader.KeyText(table.Name);
            var isArray = table is TableArraySyntax;
            var section = new TomlSection(name, table, TomlSyntaxReader.Entries(table.Items));
            switch (name, isArray)
            {
                case ("vm", false) when vm is not null:
                    diagnostics.Add(table, $"duplicate table [vm] (first defined at line {vm.Header!.Span.Start.Line + 1})");
                    break;
                case ("vm", false):
                    vm = section;
                    break;
                case ("device", true):
                    devices.Add(section);
                    break;
                case ("vm", true):
                    diagnostics.Add(table, "[[vm]] must be written [vm]: there is one VM table");
                    break;
                case ("device", false):
                    diagnostics.Add(table, "[device] must be written [[device]]: each device is one table of an array");
                    break;
                default:
                    var shown = isArray ? $"[[{name}]]" : $"[{name}]";
                    diagnostics.Add(table, $"unknown table {shown}; expected [vm] or [[device]]");
                    break;
            }
        }
        return (vm, devices);
    }
}
