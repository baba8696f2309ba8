namespace PluginVmm.Core.Acpi;

/// <summary>
/// MADT ("APIC"): local APIC address, PCAT_COMPAT (KVM's in-kernel irqchip has the dual 8259 too, so Linux must
/// mask it), one enabled Processor Local APIC per vCPU (UID = APIC id = vCPU index), the IOAPIC (id 0, GSI base 0),
/// the optional IRQ0 → GSI 2 override, and LINT1 as NMI on every processor.
/// </summary>
public static class AcpiMadt
{
    private const byte ProcessorLocalApic = 0, IoApic = 1, InterruptSourceOverride = 2, LocalApicNmi = 4;
    private const uint PcatCompat = 1, LapicEnabled = 1;

    /// <summary>The complete MADT.</summary>
    public static byte[] Table(AcpiLayout layout)
    {
        var t = new AcpiTable("APIC", 5);
        t.U32(layout.LocalApicAddress);
        t.U32(PcatCompat);
        for (var cpu = 0; cpu < layout.VcpuCount; cpu++)
            t.U8(ProcessorLocalApic).U8(8).U8((byte)cpu).U8((byte)cpu).U32(LapicEnabled);
        t.U8(IoApic).U8(12).U8(0).U8(0).U32(layout.IoApicAddress).U32(0);
        if (layout.Irq0OverrideToGsi2)
            t.U8(InterruptSourceOverride).U8(10).U8(0 /* ISA */).U8(0 /* IRQ0 */).U32(2).U16(0 /* bus conforming */);
        t.U8(LocalApicNmi).U8(6).U8(0xFF /* all processors */).U16(0 /* conforming */).U8(1 /* LINT1 */);
        return t.ToArray();
    }
}
