using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Virtio;

[assembly: DeviceKind("acme-faulty")]

namespace Acme.Faulty;

/// <summary>Options of a <c>kind = "acme-faulty"</c> device.</summary>
public sealed class FaultyOptions : DeviceOptions
{
    /// <summary>
    /// Which callback throws: "none", "create", "assign-bar", "config-read" / "config-write" (device-specific register
    /// 0x40 only, so the core's own setup is not hit), "bar-read", "bar-write", "move-bar", "worker" (its worker thread, on a
    /// BAR0 write), "own-thread" (a thread it started itself, on a BAR0 write), or "queue" (the device is then a
    /// virtio device whose queue processing throws).
    /// </summary>
    public string Fault { get; set; } = "none";
}

/// <summary>Entry point of the faulty sample.</summary>
public sealed class FaultyPlugin : DevicePlugin<FaultyOptions>
{
    private static readonly string[] Faults = ["none", "create", "assign-bar", "config-read", "config-write", "bar-read", "bar-write", "move-bar", "worker", "own-thread", "queue"];

    /// <inheritdoc/>
    public override string Kind => "acme-faulty";

    /// <inheritdoc/>
    public override string Description => "Acme faulty device (sample: throws from the callback its `fault` option names)";

    /// <inheritdoc/>
    protected override void Validate(FaultyOptions options, IOptionsValidationContext context)
    {
        if (!Faults.Contains(options.Fault)) context.Error("fault", $"fault must be one of {string.Join(", ", Faults)}");
    }

    /// <inheritdoc/>
    protected override IPciDevice Create(FaultyOptions options, IDeviceContext context) => options.Fault switch
    {
        "create" => throw new InvalidOperationException("acme-faulty: firmware blob missing (fault = create)"),
        "queue" => new VirtioPciTransport(new FaultyVirtioDevice(), context, classCode: 0xFF, subclass: 0),
        _ => new FaultyDevice(options.Fault, context),
    };
}
