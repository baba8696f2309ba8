using Microsoft.Extensions.Logging;
using PluginVmm.Core.Vm;
using PluginVmm.Sdk.Plugins;

namespace PluginVmm.Core.Hosting;

/// <summary>Device-initiated VM events: a panic ends the VM with <see cref="ExitCodes.GuestPanic"/>, others are logged.</summary>
internal sealed class VmControl(VirtualMachine vm, ILogger logger) : IVmControl
{
    public void ReportGuestPanic(string device, string detail)
    {
        logger.LogError("{Device}: {Detail}", device, detail);
        vm.ReportGuestPanic(device, detail);
    }

    public void ReportGuestEvent(string device, string detail) => logger.LogWarning("{Device}: {Detail}", device, detail);
}
