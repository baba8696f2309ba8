namespace PluginVmm.Core.Acpi;

/// <summary>
/// The DSDT: \_S5 (soft-off sleep type for the hardware-reduced sleep register), the PCI host bridge \_SB.PCI0 with
/// its _CRS windows, a motherboard-resources device reserving ECAM and the sleep/reset ports, and COM1.
/// </summary>
public static class AcpiDsdt
{
    /// <summary>The DSDT's AML body (everything after the table header).</summary>
    public static byte[] Body(AcpiLayout layout)
    {
        List<byte[]> devices = [HostBridge(layout), MotherboardResources(layout)];
        if (layout.Com1) devices.Add(Com1());
        return
        [
            // \_S5: SLP_TYPa, SLP_TYPb, reserved, reserved. Linux writes SLP_TYPa to SLEEP_CONTROL_REG with SLP_EN.
            .. Aml.Name("_S5", Aml.Package(
                Aml.Integer(AcpiPlatformPorts.S5SleepType), Aml.Integer(AcpiPlatformPorts.S5SleepType),
                Aml.Integer(0), Aml.Integer(0))),
            .. Aml.Scope("\\_SB", [.. devices]),
        ];
    }

    /// <summary>The complete DSDT (revision 2: 64-bit AML integers).</summary>
    public static byte[] Table(AcpiLayout layout) => new AcpiTable("DSDT", 2).Add(Body(layout)).ToArray();

    private static byte[] HostBridge(AcpiLayout layout)
    {
        List<byte[]> crs =
        [
            AmlResource.WordBusNumber(0, layout.EcamLastBus),
            AmlResource.Io(0x0CF8, 0x0CF8, 1, 8),      // the conf1 ports themselves (consumed)
            AmlResource.WordIo(0x0000, 0x0CF7),
            AmlResource.WordIo(0x0D00, 0xFFFF),
            AmlResource.DWordMemory(layout.Mmio32Start, layout.Mmio32End),
        ];
        if (layout.HasMmio64) crs.Add(AmlResource.QWordMemory(layout.Mmio64Start, layout.Mmio64End));
        return Aml.Device("PCI0",
            Aml.Name("_HID", Aml.EisaId("PNP0A08")),   // PCI Express root bridge
            Aml.Name("_CID", Aml.EisaId("PNP0A03")),   // compatible: PCI root bridge
            Aml.Name("_SEG", Aml.Integer(0)),
            Aml.Name("_BBN", Aml.Integer(0)),
            Aml.Name("_UID", Aml.Integer(0)),
            Aml.Name("_CRS", Aml.ResourceTemplate([.. crs])));
    }

    /// <summary>
    /// PNP0C02 "motherboard resources": Linux accepts an MCFG region only when it is reserved here or in e820, and
    /// reserving the sleep/reset ports keeps them out of the PCI I/O allocator.
    /// </summary>
    private static byte[] MotherboardResources(AcpiLayout layout)
    {
        var ports = new SortedSet<ushort> { layout.SleepControlPort, layout.SleepStatusPort, layout.ResetPort };
        var crs = new List<byte[]> { AmlResource.Memory32Fixed((uint)layout.EcamBase, (uint)layout.EcamSize) };
        foreach (var port in ports) crs.Add(AmlResource.Io(port, port, 1, 1));
        return Aml.Device("MRES",
            Aml.Name("_HID", Aml.EisaId("PNP0C02")),
            Aml.Name("_UID", Aml.Integer(0)),
            Aml.Name("_CRS", Aml.ResourceTemplate([.. crs])));
    }

    private static byte[] Com1() => Aml.Device("COM1",
        Aml.Name("_HID", Aml.EisaId("PNP0501")),       // 16550A-compatible UART
        Aml.Name("_UID", Aml.Integer(0)),
        Aml.Name("_CRS", Aml.ResourceTemplate(
            AmlResource.Io(0x03F8, 0x03F8, 0, 8),
            AmlResource.IrqNoFlags(4))));
}
