using Microsoft.Extensions.Logging;
using PluginVmm.Sdk.Interrupts;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Resources;

namespace PluginVmm.Core.Hosting;

/// <summary>What the core hands one device instance at creation.</summary>
internal sealed record DeviceContext(
    string Name, IGuestMemory Memory, IInterruptController Interrupts, IBarResources BarResources, IVmControl Vm, ILogger Logger,
    IGuestMemoryControl? MemoryControl = null, IReadOnlyList<GuestRamMapping>? Ram = null, DeviceFaultRoute? Faults = null,
    Action<string>? RamPinned = null)
    : IDeviceContext
{
    /// <inheritdoc/>
    /// <remarks>
    /// A device asks for the host addresses of guest RAM to pin it for DMA; from then on the VM's pages must not be
    /// dropped behind the IOMMU's back, so <see cref="RamPinned"/> (the core: disable discarding) hears of it first.
    /// </remarks>
    public IReadOnlyList<GuestRamMapping> RamMappings
    {
        get
        {
            RamPinned?.Invoke(Name);
            return Ram ?? [];
        }
    }

    /// <inheritdoc/>
    public IDeviceWorker StartWorker(string name, Action<CancellationToken> work) =>
        DeviceWorker.Start(Name, name, work, Logger, Faults is { } faults ? faults.Report : null);
}
