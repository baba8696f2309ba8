using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PluginVmm.Sdk.Interrupts;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Resources;
using PluginVmm.Sdk.Testing;

namespace PluginVmm.Tests.Fuzz;

/// <summary>What the host gives a device, with the core's real <see cref="IBarResources"/> (over the test bed's recorders).</summary>
public sealed class FuzzDeviceContext(string name, IBarResources resources, IGuestMemory memory) : IDeviceContext
{
    public string Name { get; } = name;

    public IGuestMemory Memory { get; } = memory;

    public RecordingInterruptController RecordingInterrupts { get; } = new();

    public IInterruptController Interrupts => RecordingInterrupts;

    public IBarResources BarResources { get; } = resources;

    public RecordingVmControl RecordingVm { get; } = new();

    public IVmControl Vm => RecordingVm;

    public ILogger Logger => NullLogger.Instance;
}
