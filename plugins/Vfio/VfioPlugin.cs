using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;

[assembly: DeviceKind("vfio")]

namespace PluginVmm.Plugins.Vfio;

/// <summary>Options of a <c>kind = "vfio"</c> device.</summary>
public sealed class VfioOptions : DeviceOptions
{
    /// <summary>Host PCI address of a device bound to vfio-pci, "0000:00:04.0" (lower-case hex, domain included).</summary>
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
            context.Error("host", $"'{options.Host}' is not a PCI address like 0000:00:04.0");
    }

    /// <summary>
    /// Opens the host function through VFIO and maps guest RAM for its DMA. Host state problems (no such device, not
    /// bound to vfio-pci, group not viable, no IOMMU) are not errors in the file: they surface here, before the VM
    /// runs, as a startup failure (exit code 1) whose message names the host address and what to do.
    /// </summary>
    protected override IPciDevice Create(VfioOptions options, IDeviceContext context)
    {
        if (context.RamMappings.Count == 0)
            context.Logger.LogWarning("{Device}: the host offers no guest RAM mappings; DMA of {Host} will fault", context.Name, options.Host);
        var function = VfioHostFunction.Open(options.Host, context.RamMappings);
        try
        {
            var device = new VfioDevice(context, function);
            context.Logger.LogInformation("{Device}: host {Host} passed through: {Bars}", context.Name, options.Host,
                string.Join(", ", device.Bars.Select(b => $"{PciBarIndex.Name(b.Index)} 0x{b.Size:x} {b.Kind}{(b.Prefetchable ? " prefetchable" : "")}")));
            return device;
        }
        catch
        {
            function.Dispose();
            throw;
        }
    }

    [GeneratedRegex("^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7]$")]
    private static partial Regex AddressPattern();
}
