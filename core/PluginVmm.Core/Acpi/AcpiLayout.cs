namespace PluginVmm.Core.Acpi;

/// <summary>
/// The I/O ports behind the FADT's hardware-reduced sleep and reset registers — one place, for the ACPI tables and
/// the platform's PIO handler alike. The platform device ("ACPI power", 2 bytes at 0x3C0) behaves so:
/// <list type="bullet">
/// <item>byte write to <see cref="SleepControl"/>: if bit 5 (SLP_EN) is set and bits 4-2 (SLP_TYP) equal
/// <see cref="S5SleepType"/> → power the VM off. Linux writes (5 &lt;&lt; 2) | 0x20 = 0x34.</item>
/// <item>byte write of <see cref="ResetValue"/> to <see cref="ResetRegister"/> → reset (reboot) the VM.</item>
/// <item>byte read of <see cref="SleepStatus"/> → 0 (WAK_STS clear); writes to it (Linux writes 0x80 to clear
/// WAK_STS before sleeping) are ignored. Any other access is ignored / reads 0.</item>
/// </list>
/// 0x3C0 is the VGA attribute controller on a PC; there is no VGA here (the FADT says so), the same choice
/// cloud-hypervisor makes for its ACPI shutdown device.
/// </summary>
public static class AcpiPlatformPorts
{
    /// <summary>FADT SLEEP_CONTROL_REG: 8-bit System I/O register.</summary>
    public const ushort SleepControl = 0x3C0;

    /// <summary>FADT SLEEP_STATUS_REG: 8-bit System I/O register.</summary>
    public const ushort SleepStatus = 0x3C1;

    /// <summary>FADT RESET_REG: the sleep control port, told apart by the value (SLP_EN clear).</summary>
    public const ushort ResetRegister = SleepControl;

    /// <summary>FADT RESET_VALUE.</summary>
    public const byte ResetValue = 0x01;

    /// <summary>SLP_TYP the DSDT's \_S5 package gives; with SLP_EN it means soft-off.</summary>
    public const byte S5SleepType = 5;

    /// <summary>SLP_EN bit of the hardware-reduced sleep control register.</summary>
    public const byte SleepEnable = 0x20;

    /// <summary>True when a byte written to <see cref="SleepControl"/> requests S5 (power off).</summary>
    public static bool IsPowerOff(byte value) => (value & SleepEnable) != 0 && ((value >> 2) & 0x7) == S5SleepType;

    /// <summary>True when a byte written to <see cref="ResetRegister"/> requests a reset.</summary>
    public static bool IsReset(byte value) => value == ResetValue;
}

/// <summary>
/// What the ACPI tables describe. Addresses are guest-physical; window ends are inclusive.
/// </summary>
public sealed record AcpiLayout
{
    /// <summary>Boot and application processors, APIC ids 0..VcpuCount-1 (xAPIC: at most 254).</summary>
    public required int VcpuCount { get; init; }

    /// <summary>Where the RSDP goes; the tables follow it. 0xE0000 lies in the BIOS area Linux scans for "RSD PTR ".</summary>
    public ulong RsdpAddress { get; init; } = 0xE_0000;

    /// <summary>First byte past the area the tables may use (the end of the BIOS area).</summary>
    public ulong TablesEnd { get; init; } = 0x10_0000;

    /// <summary>ECAM (PCI Express enhanced configuration) base for segment 0, bus 0 at offset 0.</summary>
    public ulong EcamBase { get; init; } = 0xE800_0000;

    /// <summary>Last bus number decoded by the ECAM window (1 MiB per bus).</summary>
    public byte EcamLastBus { get; init; }

    /// <summary>The host bridge's 32-bit MMIO window, inclusive.</summary>
    public uint Mmio32Start { get; init; } = 0xC000_0000;

    /// <summary>Inclusive end of the 32-bit MMIO window.</summary>
    public uint Mmio32End { get; init; } = 0xE7FF_FFFF;

    /// <summary>The 64-bit MMIO window (device area), inclusive; <see cref="Mmio64End"/> &lt; start means none.</summary>
    public ulong Mmio64Start { get; init; }

    /// <summary>Inclusive end of the 64-bit MMIO window.</summary>
    public ulong Mmio64End { get; init; }

    /// <summary>I/O APIC MMIO base (IOAPIC id 0, GSI base 0).</summary>
    public uint IoApicAddress { get; init; } = 0xFEC0_0000;

    /// <summary>Local APIC MMIO base.</summary>
    public uint LocalApicAddress { get; init; } = 0xFEE0_0000;

    /// <summary>
    /// Add the PC's interrupt source override ISA IRQ0 → GSI 2. Only true when the VM routes the PIT's GSI 0 to
    /// IOAPIC pin 2 (KVM_SET_GSI_ROUTING, as QEMU does); KVM's default routing sends GSI 0 to pin 0, which matches
    /// no override (cloud-hypervisor and Firecracker omit it), and a mismatch leaves Linux without timer interrupts.
    /// </summary>
    public bool Irq0OverrideToGsi2 { get; init; }

    /// <summary>Describe COM1 (PNP0501, 0x3F8, IRQ 4) in the DSDT.</summary>
    public bool Com1 { get; init; } = true;

    /// <summary>False sets the FADT's "CMOS RTC not present" flag (the platform has no RTC at 0x70).</summary>
    public bool CmosRtcPresent { get; init; }

    /// <summary>Ports of the sleep/reset device (see <see cref="AcpiPlatformPorts"/>).</summary>
    public ushort SleepControlPort { get; init; } = AcpiPlatformPorts.SleepControl;

    /// <summary>Sleep status register port.</summary>
    public ushort SleepStatusPort { get; init; } = AcpiPlatformPorts.SleepStatus;

    /// <summary>Reset register port.</summary>
    public ushort ResetPort { get; init; } = AcpiPlatformPorts.ResetRegister;

    /// <summary>Value written to the reset register.</summary>
    public byte ResetValue { get; init; } = AcpiPlatformPorts.ResetValue;

    /// <summary>Bytes decoded by the ECAM window.</summary>
    public ulong EcamSize => ((ulong)EcamLastBus + 1) << 20;

    /// <summary>True when a 64-bit window is described.</summary>
    public bool HasMmio64 => Mmio64End >= Mmio64Start && Mmio64End != 0;

    internal void Validate()
    {
        if (VcpuCount is < 1 or > 254) throw new ArgumentOutOfRangeException(nameof(VcpuCount), VcpuCount, "1-254 vCPUs (xAPIC ids)");
        if (Mmio32End < Mmio32Start) throw new ArgumentException($"32-bit MMIO window 0x{Mmio32Start:x}-0x{Mmio32End:x} is empty");
        if (EcamBase % (1 << 20) != 0 || EcamBase + EcamSize < EcamBase)
            throw new ArgumentException($"ECAM base 0x{EcamBase:x} must be 1 MiB aligned");
        if (EcamBase + EcamSize > 0x1_0000_0000) throw new ArgumentException($"ECAM window at 0x{EcamBase:x} must lie below 4 GiB (described with Memory32Fixed)");
        if (TablesEnd <= RsdpAddress) throw new ArgumentException($"ACPI area 0x{RsdpAddress:x}-0x{TablesEnd:x} is empty");
    }
}
