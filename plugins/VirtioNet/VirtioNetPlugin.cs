using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Virtio;

[assembly: DeviceKind("virtio-net")]

namespace PluginVmm.Plugins.VirtioNet;

/// <summary>Options of a <c>kind = "virtio-net"</c> device.</summary>
public sealed class VirtioNetOptions : DeviceOptions
{
    /// <summary>TAP interface name (created if missing).</summary>
    public string Tap { get; set; } = "";

    /// <summary>Guest MAC address, "52:54:00:12:34:56"; empty picks one.</summary>
    public string Mac { get; set; } = "";

    /// <summary>
    /// Offer mergeable receive buffers (VIRTIO_NET_F_MRG_RXBUF; QEMU's <c>mrg_rxbuf</c>). On by default; off makes
    /// Linux post one 64 KiB+ buffer per packet (its "big packets" mode), for comparisons and old drivers.
    /// </summary>
    public bool MrgRxbuf { get; set; } = true;
}

/// <summary>Entry point of the virtio-net plugin.</summary>
public sealed partial class VirtioNetPlugin : DevicePlugin<VirtioNetOptions>
{
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
    protected override IPciDevice Create(VirtioNetOptions options, IDeviceContext context)
    {
        TapBackend? tap = null;
        try
        {
            tap = TapBackend.Open(options.Tap);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The function still appears (so the guest's PCI layout does not depend on host privileges), link down.
            context.Logger.LogError("{Device}: TAP '{Tap}' unavailable, link stays down: {Error}", context.Name, options.Tap, e.Message);
        }
        var device = new VirtioNetDevice(tap, ParseMac(options.Mac), context.Logger, options.MrgRxbuf);
        return new VirtioPciTransport(device, context, classCode: 0x02, subclass: 0x00);
    }

    /// <summary>The configured MAC, or a random locally administered unicast one (52:54:00:xx:xx:xx).</summary>
    internal static byte[] ParseMac(string mac)
    {
        if (mac.Length == 0)
        {
            var random = new byte[6] { 0x52, 0x54, 0x00, 0, 0, 0 };
            Random.Shared.NextBytes(random.AsSpan(3));
            return random;
        }
        return mac.Split(':').Select(part => Convert.ToByte(part, 16)).ToArray();
    }

    [GeneratedRegex("^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")]
    private static partial Regex MacPattern();
}
