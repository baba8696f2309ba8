namespace PluginVmm.Core.Config;

/// <summary>A 1-based position in a config file, kept on bound devices so later errors can point back at the file.</summary>
public readonly record struct ConfigLocation(string File, int Line, int Column)
{
    /// <summary>Builds a diagnostic at this position.</summary>
    public ConfigDiagnostic Error(string message) => new(File, Line, Column, message);

    /// <inheritdoc/>
    public override string ToString() => $"{File}({Line},{Column})";
}
