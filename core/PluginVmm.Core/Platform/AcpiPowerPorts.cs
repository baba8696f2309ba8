using PluginVmm.Core.Acpi;

namespace PluginVmm.Core.Platform;

/// <summary>
/// The hardware-reduced ACPI sleep control/status and reset registers the FADT points at (ports 0x3C0-0x3C1, see
/// <see cref="AcpiPlatformPorts"/>): S5 powers the VM off, the reset value resets it, everything else is ignored.
/// </summary>
public sealed class AcpiPowerPorts(Action powerOff, Action reset) : Buses.IBusHandler
{
    /// <summary>First port.</summary>
    public const ushort BasePort = AcpiPlatformPorts.SleepControl;

    /// <summary>Ports covered.</summary>
    public const int Length = 2;

    /// <inheritdoc/>
    public void Read(ulong offset, Span<byte> data) => data.Clear();

    /// <inheritdoc/>
    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (offset != 0 || data.IsEmpty) return;
        if (AcpiPlatformPorts.IsPowerOff(data[0])) powerOff();
        else if (AcpiPlatformPorts.IsReset(data[0])) reset();
    }
}
