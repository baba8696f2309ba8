using System.ComponentModel.DataAnnotations;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;

namespace PluginVmm.Tests.Config;

/// <summary>In-process plugins whose options cover every binding rule the loader implements.</summary>
internal static class TestPlugins
{
    public static IReadOnlyDictionary<string, IDevicePlugin> All { get; } = new Dictionary<string, IDevicePlugin>
    {
        ["pvpanic"] = new PanicPlugin(),
        ["disk"] = new DiskPlugin(),
        ["gadget"] = new GadgetPlugin(),
        ["fragile"] = new FragilePlugin(),
    };
}

internal sealed class PanicPlugin : DevicePlugin<NoOptions>
{
    public override string Kind => "pvpanic";

    public override string Description => "test pvpanic";

    protected override IPciDevice Create(NoOptions options, IDeviceContext context) => throw new NotSupportedException();
}

public sealed class DiskOptions : DeviceOptions
{
    [Required]
    [PathOption]
    public string Path { get; set; } = "";

    public bool Readonly { get; set; }
}

/// <summary>Reports a missing image through the validation context, like the real virtio-block plugin.</summary>
internal sealed class DiskPlugin : DevicePlugin<DiskOptions>
{
    public override string Kind => "disk";

    public override string Description => "test disk";

    protected override void Validate(DiskOptions options, IOptionsValidationContext context)
    {
        if (!File.Exists(options.Path)) context.Error("path", $"disk image '{options.Path}' does not exist");
    }

    protected override IPciDevice Create(DiskOptions options, IDeviceContext context) => throw new NotSupportedException();
}

public enum GadgetMode
{
    Off,
    FastPath,
}

public sealed class GadgetOptions : DeviceOptions
{
    [Range(1, 16)]
    public int Queues { get; set; } = 1;

    public byte Slot { get; set; }

    public ulong? Base { get; set; }

    public double Ratio { get; set; } = 1.0;

    public GadgetMode Mode { get; set; }

    public string[] Tags { get; set; } = [];

    public List<int> Ports { get; set; } = [];

    [StringLength(8)]
    public string Name { get; set; } = "";

    /// <summary>Read-only: not a key.</summary>
    public int Computed => Queues * 2;
}

internal sealed class GadgetPlugin : DevicePlugin<GadgetOptions>
{
    public override string Kind => "gadget";

    public override string Description => "test gadget";

    protected override void Validate(GadgetOptions options, IOptionsValidationContext context)
    {
        if (options.Queues % 2 == 1 && options.Mode == GadgetMode.FastPath) context.Error("queues", "fast-path needs an even number of queues");
    }

    protected override IPciDevice Create(GadgetOptions options, IDeviceContext context) => throw new NotSupportedException();
}

/// <summary>A buggy plugin: its validation throws.</summary>
internal sealed class FragilePlugin : DevicePlugin<NoOptions>
{
    public override string Kind => "fragile";

    public override string Description => "throws in Validate";

    protected override void Validate(NoOptions options, IOptionsValidationContext context) =>
        throw new InvalidOperationException("boom");

    protected override IPciDevice Create(NoOptions options, IDeviceContext context) => throw new NotSupportedException();
}
