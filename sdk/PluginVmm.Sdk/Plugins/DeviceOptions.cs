namespace PluginVmm.Sdk.Plugins;

/// <summary>
/// Base of a plugin's options type. Public settable properties bind to the keys of the device's
/// <c>[[device]]</c> table in snake_case (<c>SizeMib</c> ← <c>size_mib</c>); any other key is an error.
/// Mark mandatory keys with <see cref="System.ComponentModel.DataAnnotations.RequiredAttribute"/>.
/// </summary>
public abstract class DeviceOptions
{
}

/// <summary>Options for a device that has none.</summary>
public sealed class NoOptions : DeviceOptions
{
}
