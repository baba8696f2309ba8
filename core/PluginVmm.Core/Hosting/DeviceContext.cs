using Microsoft.Extensions.Logging;
using PluginVmm.Sdk.Interrupts;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Resources;

namespace PluginVmm.Core.Hosting;

/// <summary>What the core hands one device instance at creation.</summary>
internal sealed record DeviceContext(
    string Name, IGuestMemory Memory, IInterruptController Interrupts, IBarResources BarResources, IVmControl Vm, ILogger Logger,
    IGuestMemoryControl? MemoryControl = null, IReadOnlyList<GuestRamMapping>? Ram = null, DeviceFaultRoute? Faults = null)
    : IDeviceContext
{
    /// <inheritdoc/>
    public IReadOnlyList<GuestRamMapping> RamMappings => Ram ?? [];

    /// <inheritdoc/>
    public IDeviceWorker StartWorker(string name, Action<CancellationToken> work) =>
        DeviceWorker.Start(Name, name, work, Logger, Faults is { } faults ? faults.Report : null);
}
