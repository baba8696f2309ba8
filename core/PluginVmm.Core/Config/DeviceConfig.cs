using PluginVmm.Sdk.Plugins;

namespace PluginVmm.Core.Config;

/// <summary>One <c>[[device]]</c> table, bound to the options type of the plugin that provides its kind.</summary>
public sealed record DeviceConfig
{
    /// <summary>The <c>kind</c> value.</summary>
    public required string Kind { get; init; }

    /// <summary>Instance name: kind plus its ordinal among devices of that kind ("pvpanic0").</summary>
    public required string Name { get; init; }

    /// <summary>Bound and validated options, of type <see cref="IDevicePlugin.OptionsType"/>.</summary>
    public required DeviceOptions Options { get; init; }

    /// <summary>The plugin that creates this device.</summary>
    public required IDevicePlugin Plugin { get; init; }

    /// <summary>Where the <c>[[device]]</c> header is, for run-time messages about this device.</summary>
    public required ConfigLocation Location { get; init; }
}
