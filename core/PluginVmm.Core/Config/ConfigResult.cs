namespace PluginVmm.Core.Config;

/// <summary>Either a valid <see cref="VmConfig"/> or the list of every problem found (never both).</summary>
public sealed class ConfigResult
{
    private ConfigResult(VmConfig? config, IReadOnlyList<ConfigDiagnostic> diagnostics)
    {
        Config = config;
        Diagnostics = diagnostics;
    }

    /// <summary>The configuration, or null when <see cref="Diagnostics"/> is not empty.</summary>
    public VmConfig? Config { get; }

    /// <summary>Problems in file order; empty on success.</summary>
    public IReadOnlyList<ConfigDiagnostic> Diagnostics { get; }

    /// <summary>True when <see cref="Config"/> is set.</summary>
    public bool Succeeded => Config is not null;

    internal static ConfigResult Success(VmConfig config) => new(config, []);

    internal static ConfigResult Failure(IReadOnlyList<ConfigDiagnostic> diagnostics) => new(null, diagnostics);
}
