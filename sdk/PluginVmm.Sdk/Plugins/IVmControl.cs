namespace PluginVmm.Sdk.Plugins;

/// <summary>VM-level actions a device may take.</summary>
public interface IVmControl
{
    /// <summary>The guest reported a panic (pvpanic). The core logs it and ends the VM with the panic exit code.</summary>
    void ReportGuestPanic(string device, string detail);

    /// <summary>Logs a guest event that needs no action (pvpanic "crash loaded").</summary>
    void ReportGuestEvent(string device, string detail);
}
