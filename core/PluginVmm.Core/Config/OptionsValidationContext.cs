using PluginVmm.Sdk.Plugins;

namespace PluginVmm.Core.Config;

/// <summary>
/// What a plugin's <see cref="IDevicePlugin.Validate"/> sees: paths resolve against the config file's folder, and
/// each reported error lands on the value of the key it names (or the <c>[[device]]</c> header when the key is
/// not in the table).
/// </summary>
internal sealed class OptionsValidationContext(TomlSection section, string configDirectory, DiagnosticList diagnostics)
    : IOptionsValidationContext
{
    public string ResolvePath(string path) => ConfigPaths.Resolve(configDirectory, path);

    public void Error(string key, string message)
    {
        // Messages name their key; plugins often do so themselves ("size_mib must be ..."), then no prefix is added.
        var text = message.StartsWith(key, StringComparison.Ordinal) ? message : $"{key}: {message}";
        if (section.Find(key) is { } entry) diagnostics.Add(entry.Value, text);
        else if (section.Header is not null) diagnostics.Add(section.Header, text);
        else diagnostics.AddAtFileStart(text);
    }
}
