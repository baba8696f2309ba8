namespace PluginVmm.Core.Config;

/// <summary>
/// A parsed config file with its <c>[vm]</c> table checked (and command-line overrides applied), but with devices not
/// yet bound: binding needs the plugins, and which plugins to load is itself part of <c>[vm]</c>
/// (<c>plugins_dir</c>). Produced by <see cref="ConfigLoader.Read"/>; finished by <see cref="ConfigLoader.Load(ConfigDocument, IReadOnlyDictionary{string, Sdk.Plugins.IDevicePlugin})"/>.
/// </summary>
public sealed class ConfigDocument
{
    internal ConfigDocument(string fileName, string directory, DiagnosticList diagnostics)
    {
        FileName = fileName;
        Directory = directory;
        DiagnosticList = diagnostics;
    }

    /// <summary>The config file as the user named it.</summary>
    public string FileName { get; }

    /// <summary>Absolute folder of the config file.</summary>
    public string Directory { get; }

    /// <summary>Problems found so far, in file order.</summary>
    public IReadOnlyList<ConfigDiagnostic> Diagnostics => DiagnosticList.ToSortedList();

    /// <summary>
    /// The file could not be read or parsed; nothing else was checked and loading plugins is pointless.
    /// </summary>
    public bool IsUnreadable { get; internal set; }

    /// <summary>
    /// Absolute folder to load plugins from: <c>--plugins-dir</c>, else <c>plugins_dir</c>, else the default.
    /// </summary>
    public string PluginsDir { get; internal set; } = "";

    /// <summary>
    /// <see cref="PluginsDir"/> was given but is not a directory (already reported); device kinds are then not
    /// checked, since every one of them would be unknown.
    /// </summary>
    public bool PluginsDirInvalid { get; internal set; }

    internal DiagnosticList DiagnosticList { get; }

    /// <summary>The string <c>kind</c> values of the <c>[[device]]</c> tables: the plugins this config needs.</summary>
    public IReadOnlyCollection<string> DeviceKinds =>
        [.. DeviceSections.Select(d => d.Find("kind")?.Value).OfType<Tomlyn.Syntax.StringValueSyntax>()
            .Select(v => v.Value).OfType<string>().Distinct(StringComparer.Ordinal)];

    internal int MemoryMib { get; set; } = VmSection.DefaultMemoryMib;

    internal int Vcpus { get; set; } = VmSection.DefaultVcpus;

    internal string? KernelPath { get; set; }

    internal string? InitramfsPath { get; set; }

    internal string Cmdline { get; set; } = VmSection.DefaultCmdline;

    internal IReadOnlyList<TomlSection> DeviceSections { get; set; } = [];
}
