using PluginVmm.Core.Config;

namespace PluginVmm.Core.Hosting;

/// <summary>
/// A device could not be started: its plugin's Create threw, or the PCI root could not attach it (AssignBar threw,
/// bad BAR specs, no room). The VM exists by then (KVM is open), so `vmm run` ends with exit code 1
/// (<see cref="ExitCodes.VmmError"/>), not 2; the message names the device, its kind, its plugin and its
/// <c>[[device]]</c> table.
/// </summary>
public sealed class DeviceStartupException(DeviceConfig device, string plugin, string reason, Exception inner)
    : Exception($"device {device.Name} (kind '{device.Kind}', plugin {plugin}, {device.Location}) could not be started: {reason}", inner)
{
    /// <summary>The plugin assembly's name.</summary>
    public string Plugin { get; } = plugin;
}
