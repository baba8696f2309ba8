namespace PluginVmm.Core.Plugins;

/// <summary>How bad a <see cref="PluginProblem"/> is.</summary>
public enum PluginProblemSeverity
{
    /// <summary>Worth knowing; nothing was refused (an assembly without plugins, a folder without its dll).</summary>
    Warning,

    /// <summary>A plugin was refused or a kind is unusable; the host does not run a VM with this plugin set.</summary>
    Error,
}

/// <summary>Something found while loading the plugins folder.</summary>
public sealed record PluginProblem(PluginProblemSeverity Severity, string Message, string? AssemblyPath = null)
{
    /// <inheritdoc/>
    public override string ToString() => $"{(Severity == PluginProblemSeverity.Error ? "error" : "warning")}: {Message}";
}
