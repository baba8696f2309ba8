using PluginVmm.Sdk.Plugins;
using Tomlyn.Syntax;

namespace PluginVmm.Core.Config;

/// <summary>
/// Binds each <c>[[device]]</c> table: finds the plugin by <c>kind</c>, binds the remaining keys to a fresh
/// instance of the plugin's options type, then (only if binding succeeded) runs the plugin's own validation.
/// </summary>
internal sealed class DeviceBinder(ConfigDocument document, IReadOnlyDictionary<string, IDevicePlugin> plugins, DiagnosticList diagnostics)
{
    private const string KindKey = "kind";

    private readonly Dictionary<string, int> _perKind = new(StringComparer.Ordinal);

    public List<DeviceConfig> BindAll()
    {
        var devices = new List<DeviceConfig>();
        foreach (var section in document.DeviceSections)
        {
            if (Bind(section) is { } device) devices.Add(device);
        }
        return devices;
    }

    private DeviceConfig? Bind(TomlSection section)
    {
        var header = section.Header!;
        var kindEntry = section.Find(KindKey);
        if (kindEntry is null)
        {
            diagnostics.Add(header, "missing required key 'kind' in [[device]]");
            return null;
        }
        if (kindEntry.Value is not StringValueSyntax { Value: { } kind })
        {
            diagnostics.Add(kindEntry.Value, $"kind: expected a string, got {TomlSyntaxReader.Describe(kindEntry.Value)}");
            return null;
        }
        if (!plugins.TryGetValue(kind, out var plugin))
        {
            // With a broken plugins_dir every kind is unknown; that one error already explains it.
            if (!document.PluginsDirInvalid) diagnostics.Add(kindEntry.Value, UnknownKind(kind));
            return null;
        }

        var where = $"for device kind '{kind}'";
        var schema = OptionsSchema.For(plugin.OptionsType);
        if (schema.Problems.Count > 0)
        {
            diagnostics.Add(header, $"device kind '{kind}': the plugin's options cannot be bound: {string.Join("; ", schema.Problems)}");
            return null;
        }
        if (CreateOptions(plugin, header, kind) is not { } options) return null;
        if (!OptionsBinder.Bind(section, options, [KindKey], where, diagnostics, document.Directory)) return null;

        var before = diagnostics.Count;
        try
        {
            plugin.Validate(options, new OptionsValidationContext(section, document.Directory, diagnostics));
        }
        catch (Exception e)
        {
            // A plugin bug must not turn a config check into a crash; report it where the device is declared.
            diagnostics.Add(header, $"device kind '{kind}': the plugin failed while validating its options: {e.Message}");
        }
        if (diagnostics.Count != before) return null;

        _perKind.TryGetValue(kind, out var ordinal);
        _perKind[kind] = ordinal + 1;
        return new DeviceConfig
        {
            Kind = kind,
            Name = $"{kind}{ordinal}",
            Options = options,
            Plugin = plugin,
            Location = diagnostics.LocationOf(header),
        };
    }

    private DeviceOptions? CreateOptions(IDevicePlugin plugin, SyntaxNodeBase header, string kind)
    {
        try
        {
            if (Activator.CreateInstance(plugin.OptionsType) is DeviceOptions options) return options;
            diagnostics.Add(header, $"device kind '{kind}': options type {plugin.OptionsType.Name} does not derive from DeviceOptions");
        }
        catch (Exception e)
        {
            diagnostics.Add(header, $"device kind '{kind}': cannot create options {plugin.OptionsType.Name}: {(e.InnerException ?? e).Message}");
        }
        return null;
    }

    private string UnknownKind(string kind) => plugins.Count == 0
        ? $"unknown device kind '{kind}'; no device plugins were found in {document.PluginsDir}"
        : $"unknown device kind '{kind}'; available kinds: {string.Join(", ", plugins.Keys.Order(StringComparer.Ordinal))}";
}
