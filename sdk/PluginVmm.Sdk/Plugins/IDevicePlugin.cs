using PluginVmm.Sdk.Pci;

namespace PluginVmm.Sdk.Plugins;

/// <summary>
/// A plugin's entry point: one per device kind. The host finds public or internal non-abstract classes
/// implementing it in the plugin assembly and creates one device per <c>[[device]]</c> entry of that kind.
/// </summary>
public interface IDevicePlugin
{
    /// <summary>The <c>kind</c> value in vmm.toml, e.g. "pvpanic". Lower case, digits and '-'.</summary>
    string Kind { get; }

    /// <summary>One line for <c>vmm plugins</c>.</summary>
    string Description { get; }

    /// <summary>The options type, derived from <see cref="DeviceOptions"/>, with a public parameterless constructor.</summary>
    Type OptionsType { get; }

    /// <summary>Checks options (paths exist, ranges); called before any VM is created.</summary>
    void Validate(DeviceOptions options, IOptionsValidationContext context);

    /// <summary>Creates the device.</summary>
    IPciDevice Create(DeviceOptions options, IDeviceContext context);
}

/// <summary>Typed helper base for <see cref="IDevicePlugin"/>.</summary>
public abstract class DevicePlugin<TOptions> : IDevicePlugin where TOptions : DeviceOptions, new()
{
    /// <inheritdoc/>
    public abstract string Kind { get; }

    /// <inheritdoc/>
    public abstract string Description { get; }

    /// <inheritdoc/>
    public Type OptionsType => typeof(TOptions);

    /// <inheritdoc/>
    public void Validate(DeviceOptions options, IOptionsValidationContext context) => Validate((TOptions)options, context);

    /// <inheritdoc/>
    public IPciDevice Create(DeviceOptions options, IDeviceContext context) => Create((TOptions)options, context);

    /// <summary>Typed validation; default accepts everything.</summary>
    protected virtual void Validate(TOptions options, IOptionsValidationContext context)
    {
    }

    /// <summary>Typed factory.</summary>
    protected abstract IPciDevice Create(TOptions options, IDeviceContext context);
}
