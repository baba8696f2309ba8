using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;

namespace Acme.Widget;

/// <summary>Options of a <c>kind = "acme-widget"</c> device.</summary>
public sealed class WidgetOptions : DeviceOptions
{
    /// <summary>Shown by the guest driver; up to 32 characters.</summary>
    public string Label { get; set; } = "widget";
}

/// <summary>
/// Entry point of the Acme widget. Internal on purpose: the host finds non-public plugin classes too.
/// </summary>
internal sealed class WidgetPlugin : DevicePlugin<WidgetOptions>
{
    /// <inheritdoc/>
    public override string Kind => "acme-widget";

    /// <inheritdoc/>
    public override string Description => "Acme widget (third-party sample plugin)";

    /// <inheritdoc/>
    protected override void Validate(WidgetOptions options, IOptionsValidationContext context)
    {
        if (options.Label.Length > 32) context.Error("label", "label must be at most 32 characters");
    }

    /// <inheritdoc/>
    protected override IPciDevice Create(WidgetOptions options, IDeviceContext context) => new WidgetDevice(options.Label);
}
