namespace PluginVmm.Sdk.Plugins;

/// <summary>
/// Marks a string option as a host path: the host resolves a relative value against the config file's folder
/// before <see cref="IDevicePlugin.Validate"/> and <see cref="IDevicePlugin.Create"/> see it.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class PathOptionAttribute : Attribute
{
}
