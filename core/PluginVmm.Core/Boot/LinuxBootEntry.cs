namespace PluginVmm.Core.Boot;

/// <summary>
/// One segment register as the vCPU must hold it (maps 1:1 onto struct kvm_segment). <paramref name="Type"/> is
/// the 4-bit descriptor type (0xB = code execute/read accessed, 0x3 = data read/write accessed, 0xB with
/// <paramref name="S"/> = false = busy 32-bit TSS).
/// </summary>
public sealed record LinuxSegment(
    ushort Selector, ulong Base, uint Limit, byte Type, bool Present, byte Dpl, bool Db, bool S, bool L, bool G);

/// <summary>
/// The vCPU state the boot CPU must have to enter a bzImage through the Linux 32-bit boot protocol
/// (boot.rst "32-bit BOOT PROTOCOL"): protected mode, paging off, flat 4 GiB segments CS = 0x10 and
/// DS/ES/SS = 0x18 from a loaded GDT, interrupts off, ESI = zero page, EBP/EDI/EBX = 0. The Vm code applies it:
/// general registers from <see cref="Rip"/>, <see cref="Rsi"/>, <see cref="Rsp"/>, <see cref="Rflags"/> (every
/// other GPR zero); special registers CR0/CR3/CR4/EFER, the segments, GDT and IDT as given. The other vCPUs stay
/// in their reset state: Linux starts them with INIT/SIPI through the LAPIC, found in the ACPI MADT.
/// </summary>
public sealed record LinuxBootEntry
{
    /// <summary>32-bit entry: the protected-mode kernel's load address (startup_32).</summary>
    public required ulong Rip { get; init; }

    /// <summary>Guest-physical address of the zero page (struct boot_params).</summary>
    public required ulong Rsi { get; init; }

    /// <summary>A small boot stack below 0x9000; startup_32 sets its own soon after entry.</summary>
    public required ulong Rsp { get; init; }

    /// <summary>Only the reserved bit 1: IF clear.</summary>
    public ulong Rflags { get; init; } = 0x2;

    /// <summary>False: this is the 32-bit protected-mode entry, not the 64-bit one (EFER.LME/LMA clear, no page tables).</summary>
    public bool LongMode { get; init; }

    /// <summary>CR0.PE | CR0.ET (ET is fixed to 1 on every CPU since the 486); paging and caching flags off.</summary>
    public ulong Cr0 { get; init; } = 0x11;

    /// <summary>Zero: no page tables.</summary>
    public ulong Cr3 { get; init; }

    /// <summary>Zero.</summary>
    public ulong Cr4 { get; init; }

    /// <summary>Zero.</summary>
    public ulong Efer { get; init; }

    /// <summary>GDT the loader wrote into guest RAM (null, unused, code 0x10, data 0x18, TSS 0x20).</summary>
    public required ulong GdtBase { get; init; }

    /// <summary>GDT limit (size − 1).</summary>
    public required ushort GdtLimit { get; init; }

    /// <summary>IDT base; zero with limit zero — interrupts stay off until the kernel loads its own IDT.</summary>
    public ulong IdtBase { get; init; }

    /// <summary>IDT limit.</summary>
    public ushort IdtLimit { get; init; }

    /// <summary>CS: selector 0x10, flat, execute/read.</summary>
    public required LinuxSegment Code { get; init; }

    /// <summary>DS, ES, FS, GS and SS: selector 0x18, flat, read/write.</summary>
    public required LinuxSegment Data { get; init; }

    /// <summary>TR: selector 0x20, a busy 32-bit TSS (VMX refuses to enter protected mode with an unusable TR).</summary>
    public required LinuxSegment Tss { get; init; }
}
