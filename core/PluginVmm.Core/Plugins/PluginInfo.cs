using PluginVmm.Sdk.Plugins;

namespace PluginVmm.Core.Plugins;

/// <summary>One loaded device kind and where it came from.</summary>
public sealed record PluginInfo
{
    /// <summary>The <c>kind</c> value in vmm.toml.</summary>
    public required string Kind { get; init; }

    /// <summary>The plugin's one-line description.</summary>
    public required string Description { get; init; }

    /// <summary>The plugin instance (a singleton for the host's lifetime).</summary>
    public required IDevicePlugin Plugin { get; init; }

    /// <summary>Simple name of the plugin assembly.</summary>
    public required string AssemblyName { get; init; }

    /// <summary>Informational version of the plugin assembly (without a source-revision suffix), else its AssemblyVersion.</summary>
    public required string Version { get; init; }

    /// <summary>The PluginVmm.Sdk AssemblyVersion the plugin was compiled against, or null.</summary>
    public Version? SdkVersion { get; init; }

    /// <summary>Absolute path of the plugin assembly.</summary>
    public required string AssemblyPath { get; init; }
}
