using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PluginVmm.Sdk.Interrupts;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Resources;

namespace PluginVmm.Sdk.Testing;

/// <summary>An <see cref="IDeviceContext"/> made of the kit's fakes; every part can be replaced.</summary>
public sealed class TestDeviceContext(IGuestMemory memory) : IDeviceContext
{
    /// <inheritdoc/>
    public string Name { get; init; } = "dev0";

    /// <inheritdoc/>
    public IGuestMemory Memory { get; } = memory;

    /// <summary>The recording interrupt controller.</summary>
    public RecordingInterruptController RecordingInterrupts { get; } = new();

    /// <inheritdoc/>
    public IInterruptController Interrupts => RecordingInterrupts;

    /// <summary>The fake BAR resources.</summary>
    public FakeBarResources FakeResources { get; } = new();

    /// <inheritdoc/>
    public IBarResources BarResources => FakeResources;

    /// <summary>Guest panics and events reported by the device.</summary>
    public RecordingVmControl RecordingVm { get; } = new();

    /// <inheritdoc/>
    public IVmControl Vm => RecordingVm;

    /// <inheritdoc/>
    public ILogger Logger { get; init; } = NullLogger.Instance;

    /// <summary>Guest-memory control (e.g. a <see cref="FakeGuestMemoryControl"/>); null, as by default, when not offered.</summary>
    public IGuestMemoryControl? MemoryControl { get; init; }
}

/// <summary>Records what a device reports to the VM.</summary>
public sealed class RecordingVmControl : IVmControl
{
    /// <summary>(device, kind, detail) in order.</summary>
    public List<(string Device, string Kind, string Detail)> Reports { get; } = [];

    /// <inheritdoc/>
    public void ReportGuestPanic(string device, string detail) { lock (Reports) Reports.Add((device, "panic", detail)); }

    /// <inheritdoc/>
    public void ReportGuestEvent(string device, string detail) { lock (Reports) Reports.Add((device, "event", detail)); }
}
