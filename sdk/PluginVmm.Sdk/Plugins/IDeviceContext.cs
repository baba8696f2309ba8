using Microsoft.Extensions.Logging;
using PluginVmm.Sdk.Interrupts;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Resources;

namespace PluginVmm.Sdk.Plugins;

/// <summary>Everything the core offers one device instance.</summary>
public interface IDeviceContext
{
    /// <summary>Instance name, e.g. "pvpanic0", used in logs.</summary>
    string Name { get; }

    /// <summary>Guest RAM.</summary>
    IGuestMemory Memory { get; }

    /// <summary>MSI/MSI-X vectors.</summary>
    IInterruptController Interrupts { get; }

    /// <summary>Memory slots and ioeventfds attached to BARs.</summary>
    IBarResources BarResources { get; }

    /// <summary>VM-level events.</summary>
    IVmControl Vm { get; }

    /// <summary>Logger for this instance.</summary>
    ILogger Logger { get; }

    /// <summary>
    /// Control over the host backing of guest RAM (madvise, mlock, ... on the guest's own pages), for devices such as
    /// pvmemcontrol; null when the host offers none (the default, so existing contexts keep compiling).
    /// </summary>
    IGuestMemoryControl? MemoryControl => null;

    /// <summary>
    /// Guest RAM ranges with the host addresses that back them, for DMA set-up in the host kernel (VFIO); empty when
    /// the host offers none (the default, so existing contexts keep compiling).
    /// </summary>
    IReadOnlyList<GuestRamMapping> RamMappings => [];

    /// <summary>
    /// Starts a background thread for this device (a backend poller, a timer). Use it instead of <c>new Thread</c>:
    /// an exception escaping <paramref name="work"/> is logged with the device's and plugin's names and the core
    /// fences the device (config reads all ones, BARs unmapped) while the VM keeps running, whereas an exception
    /// escaping a plain thread ends the VMM process. <paramref name="work"/> should return soon after its token is
    /// cancelled (Dispose of the result, or device teardown). The default (contexts other than the core's) logs
    /// the fault only.
    /// </summary>
    IDeviceWorker StartWorker(string name, Action<CancellationToken> work) => DeviceWorker.Start(Name, name, work, Logger);
}
