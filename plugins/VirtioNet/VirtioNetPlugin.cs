using System.Text.RegularExpressions;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Virtio;

namespace PluginVmm.Plugins.VirtioNet;

/// <summary>Options of a <c>kind = "virtio-net"</c> device.</summary>
public sealed class VirtioNetOptions : DeviceOptions
{
    /// <summary>TAP interface name (created if missing).</summary>
    public string Tap { get; set; } = "";

    /// <summary>Guest MAC address, "52:54:00:12:34:56"; empty picks one.</summary>
    public string Mac { get; set; } = "";
}

/// <summary>Entry point of the virtio-net plugin.</summary>
public sealed partial class VirtioNetPlugin : DevicePlugin<VirtioNetOptions>
{
    // virtio-net config space: mac, status, max_virtqueue_pairs, mtu (virtio 1.2 §5.1.4).
    private const uint ConfigLength = 0x0C;

    /// <inheritdoc/>
    public override string Kind => "virtio-net";

    /// <inheritdoc/>
    public override string Description => "virtio 1.x network device (PCI 1af4:1041) over a TAP interface";

    /// <inheritdoc/>
    protected override void Validate(VirtioNetOptions options, IOptionsValidationContext context)
    {
        if (options.Tap.Length is 0 or > 15) context.Error("tap", "TAP interface name must be 1 to 15 characters");
        if (options.Mac.Length > 0 && !MacPattern().IsMatch(options.Mac))
            context.Error("mac", $"'{options.Mac}' is not a MAC address like 52:54:00:12:34:56");
    }

    /// <inheritdoc/>
    protected override IPciDevice Create(VirtioNetOptions options, IDeviceContext context) =>
        new VirtioPciFunction(context, VirtioPciLayout.TypeNet, classCode: 0x02, subclass: 0x00, queues: 2, ConfigLength);

    [GeneratedRegex("^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")]
    private static partial Regex MacPattern();
}
