using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;

[assembly: DeviceKind("vfio")]

namespace PluginVmm.Plugins.Vfio;

/// <summary>Options of a <c>kind = "vfio"</c> device.</summary>
public sealed class VfioOptions : DeviceOptions
{
    /// <summary>Host PCI address of a device bound to vfio-pci, "0000:00:04.0".</summary>
    [Required]
    public string Host { get; set; } = "";
}

/// <summary>Entry point of the VFIO passthrough plugin.</summary>
public sealed partial class VfioPlugin : DevicePlugin<VfioOptions>
{
    /// <inheritdoc/>
    public override string Kind => "vfio";

    /// <inheritdoc/>
    public override string Description => "PCI passthrough of a host device bound to vfio-pci";

    /// <inheritdoc/>
    protected override void Validate(VfioOptions options, IOptionsValidationContext context)
    {
        if (!AddressPattern().IsMatch(options.Host))
        {
            context.Error("host", $"'{options.Host}' is not a PCI address like 0000:00:04.0");
            return;
        }
        var device = new HostPciDevice(options.Host);
        if (!device.Exists) context.Error("host", $"no host PCI device {options.Host} (looked in {device.SysfsPath})");
        else if (device.Driver != "vfio-pci")
            context.Error("host", $"host device {options.Host} is bound to '{device.Driver ?? "no driver"}', not vfio-pci");
    }

    /// <inheritdoc/>
    protected override IPciDevice Create(VfioOptions options, IDeviceContext context) =>
        new VfioDevice(context, new HostPciDevice(options.Host));

    [GeneratedRegex("^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7]$")]
    private static partial Regex AddressPattern();
}
