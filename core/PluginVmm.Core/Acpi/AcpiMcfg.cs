namespace PluginVmm.Core.Acpi;

/// <summary>MCFG: one ECAM allocation, segment 0, buses 0..EcamLastBus.</summary>
public static class AcpiMcfg
{
    /// <summary>The complete MCFG.</summary>
    public static byte[] Table(AcpiLayout layout)
    {
        var t = new AcpiTable("MCFG", 1);
        t.Zeros(8);                                       // reserved
        t.U64(layout.EcamBase).U16(0).U8(0).U8(layout.EcamLastBus).U32(0);
        return t.ToArray();
    }
}
