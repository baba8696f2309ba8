namespace PluginVmm.Sdk.Plugins;

/// <summary>
/// Declares, on the plugin assembly, a device kind one of its <see cref="IDevicePlugin"/>s provides:
/// <c>[assembly: DeviceKind("pvpanic")]</c>, once per kind. Optional but recommended: the host reads it from the
/// assembly's metadata without loading the assembly, so <c>vmm run</c> loads only the plugins whose kinds the
/// config uses (start-up time). A plugin without it is always loaded. The host checks the declaration against
/// the loaded plugins' <see cref="IDevicePlugin.Kind"/> and refuses a plugin whose declaration is wrong.
/// </summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
public sealed class DeviceKindAttribute(string kind) : Attribute
{
    /// <summary>The <c>kind</c> value in vmm.toml.</summary>
    public string Kind { get; } = kind;
}
