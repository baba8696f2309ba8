using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Virtio;

// Lets the host load this plugin only when a config uses the kind.
[assembly: DeviceKind("my-device-kind")]

namespace MyDevice;

/// <summary>Options of a <c>kind = "my-device-kind"</c> device: the keys of its <c>[[device]]</c> table, in snake_case.</summary>
public sealed class ExampleOptions : DeviceOptions
{
    /// <summary>The byte the device fills request buffers with (<c>fill = 90</c>).</summary>
    public byte Fill { get; set; } = 0x5A;
}

/// <summary>The plugin's entry point: a virtio device behind the SDK's modern virtio-pci transport.</summary>
public sealed class ExamplePlugin : DevicePlugin<ExampleOptions>
{
    /// <summary>The <c>kind</c> value in vmm.toml.</summary>
    public const string KindName = "my-device-kind";

    /// <inheritdoc/>
    public override string Kind => KindName;

    /// <inheritdoc/>
    public override string Description => "MyDevice: an example virtio device (replace me)";

    /// <inheritdoc/>
    protected override IPciDevice Create(ExampleOptions options, IDeviceContext context) =>
        new VirtioPciTransport(new ExampleVirtioDevice(options.Fill), context, classCode: 0xFF, subclass: 0x00);
}
