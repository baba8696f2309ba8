using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;

namespace PluginVmm.Plugins.PvPanic;

/// <summary>
/// QEMU's pvpanic-pci (1b36:0011): a one-byte register in BAR0. Reading it returns the events the device
/// supports; the guest writes one event: 1 = panicked (the VM ends with the panic exit code), 2 = crash
/// kernel loaded (logged, the VM goes on). Anything else is logged as unknown and ignored.
/// </summary>
internal sealed class PvPanicDevice(IDeviceContext context) : PciDevice(BuildConfiguration())
{
    public const byte Panicked = 0x01, CrashLoaded = 0x02;
    private const byte SupportedEvents = Panicked | CrashLoaded;

    private static PciConfiguration BuildConfiguration()
    {
        var config = new PciConfiguration(0x1B36, 0x0011, classCode: 0x08, subclass: 0x80, revision: 1);
        config.AddBar(new PciBarSpec(0, 16, PciBarKind.Memory32));
        return config;
    }

    public override void ReadBar(int index, ulong offset, Span<byte> data)
    {
        data.Clear();
        if (offset == 0 && data.Length > 0) data[0] = SupportedEvents;
    }

    public override void WriteBar(int index, ulong offset, ReadOnlySpan<byte> data)
    {
        if (offset != 0 || data.Length == 0) return;
        byte value = data[0];
        if ((value & Panicked) != 0)
            context.Vm.ReportGuestPanic(context.Name, $"guest reported a panic (pvpanic event 0x{value:x2})");
        else if ((value & CrashLoaded) != 0)
            context.Vm.ReportGuestEvent(context.Name, "guest loaded a crash kernel (pvpanic event 0x02)");
        else
            context.Vm.ReportGuestEvent(context.Name, $"unknown pvpanic event 0x{value:x2} ignored");
    }
}
