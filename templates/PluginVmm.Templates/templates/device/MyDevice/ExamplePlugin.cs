using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;

// Lets the host load this plugin only when a config uses the kind.
[assembly: DeviceKind("my-device-kind")]

namespace MyDevice;

/// <summary>Options of a <c>kind = "my-device-kind"</c> device: the keys of its <c>[[device]]</c> table, in snake_case.</summary>
public sealed class ExampleOptions : DeviceOptions
{
    /// <summary>Initial value of the scratch register (<c>scratch = 42</c>).</summary>
    public uint Scratch { get; set; }
}

/// <summary>The plugin's entry point: the host finds it by scanning the assembly and creates one device per table.</summary>
public sealed class ExamplePlugin : DevicePlugin<ExampleOptions>
{
    /// <summary>The <c>kind</c> value in vmm.toml.</summary>
    public const string KindName = "my-device-kind";

    /// <inheritdoc/>
    public override string Kind => KindName;

    /// <inheritdoc/>
    public override string Description => "MyDevice: an example PCI device (replace me)";

    /// <inheritdoc/>
    protected override IPciDevice Create(ExampleOptions options, IDeviceContext context) => new ExampleDevice(options.Scratch);
}
