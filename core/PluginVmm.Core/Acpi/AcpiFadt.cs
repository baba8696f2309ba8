namespace PluginVmm.Core.Acpi;

/// <summary>
/// FADT ("FACP") revision 6, 276 bytes, hardware-reduced: no PM1/GPE blocks, no FACS, no SCI; sleep through the
/// SLEEP_CONTROL/STATUS registers and reset through RESET_REG (both I/O ports of <see cref="AcpiPlatformPorts"/>).
/// </summary>
public static class AcpiFadt
{
    /// <summary>Length of a revision 6 FADT.</summary>
    public const int Length = 276;

    /// <summary>Flags: WBINVD (0), PWR_BUTTON (4) and SLP_BUTTON (5) = control-method / none, RESET_REG_SUP (10), HW_REDUCED_ACPI (20).</summary>
    public const uint Flags = (1u << 0) | (1u << 4) | (1u << 5) | (1u << 10) | (1u << 20);

    /// <summary>IA-PC boot architecture flags: no 8042 (bit 1 clear), VGA not present (2), no ASPM (4), optional no CMOS RTC (5).</summary>
    public static ushort BootArchFlags(AcpiLayout layout) =>
        (ushort)((1 << 2) | (1 << 4) | (layout.CmosRtcPresent ? 0 : 1 << 5));

    private const byte SystemIo = 1, ByteAccess = 1;

    /// <summary>The complete FADT pointing at the DSDT at <paramref name="dsdtAddress"/>.</summary>
    public static byte[] Table(AcpiLayout layout, ulong dsdtAddress)
    {
        var t = new AcpiTable("FACP", 6);
        t.U32(0);                 // 36 FIRMWARE_CTRL: no FACS (optional when hardware-reduced)
        t.U32(0);                 // 40 DSDT: zero because X_DSDT is set
        t.U8(0);                  // 44 reserved
        t.U8(0);                  // 45 Preferred_PM_Profile: unspecified
        t.U16(9);                 // 46 SCI_INT: unused when hardware-reduced; 9 as on a PC
        t.U32(0);                 // 48 SMI_CMD: none, ACPI is always enabled
        t.U8(0).U8(0).U8(0).U8(0); // 52 ACPI_ENABLE, ACPI_DISABLE, S4BIOS_REQ, PSTATE_CNT
        t.Zeros(32);              // 56..87 PM1a/b EVT, PM1a/b CNT, PM2 CNT, PM TMR, GPE0, GPE1 blocks: none
        t.Zeros(8);               // 88..95 block lengths, GPE1_BASE, CST_CNT
        t.U16(0).U16(0);          // 96 P_LVL2_LAT, P_LVL3_LAT
        t.U16(0).U16(0);          // 100 FLUSH_SIZE, FLUSH_STRIDE
        t.U8(0).U8(0);            // 104 DUTY_OFFSET, DUTY_WIDTH
        t.U8(0).U8(0).U8(0);      // 106 DAY_ALRM, MON_ALRM, CENTURY
        t.U16(BootArchFlags(layout)); // 109 IAPC_BOOT_ARCH
        t.U8(0);                  // 111 reserved
        t.U32(Flags);             // 112 Flags
        t.Gas(SystemIo, 8, 0, ByteAccess, layout.ResetPort); // 116 RESET_REG
        t.U8(layout.ResetValue);  // 128 RESET_VALUE
        t.U16(0);                 // 129 ARM_BOOT_ARCH
        t.U8(0);                  // 131 FADT minor version (6.0)
        t.U64(0);                 // 132 X_FIRMWARE_CTRL
        t.U64(dsdtAddress);       // 140 X_DSDT
        t.Zeros(12 * 8);          // 148..243 X_PM1a/b EVT, X_PM1a/b CNT, X_PM2 CNT, X_PM TMR, X_GPE0, X_GPE1: none
        t.Gas(SystemIo, 8, 0, ByteAccess, layout.SleepControlPort); // 244 SLEEP_CONTROL_REG
        t.Gas(SystemIo, 8, 0, ByteAccess, layout.SleepStatusPort);  // 256 SLEEP_STATUS_REG
        t.Add("PLUGVMM "u8);      // 268 Hypervisor Vendor Identity
        if (t.Length != Length) throw new InvalidOperationException($"FADT is {t.Length} bytes, expected {Length}");
        return t.ToArray();
    }
}
