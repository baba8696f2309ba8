using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace PluginVmm.Core.Interop;

// Blittable mirrors of linux/kvm.h (x86-64). Sizes and offsets are asserted in KvmStructLayoutTests.

/// <summary>struct kvm_regs (144 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmRegs
{
#pragma warning disable CS1591 // register names
    public ulong Rax, Rbx, Rcx, Rdx, Rsi, Rdi, Rsp, Rbp;
    public ulong R8, R9, R10, R11, R12, R13, R14, R15;
    public ulong Rip, Rflags;
#pragma warning restore CS1591
}

/// <summary>struct kvm_segment (24 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmSegment
{
#pragma warning disable CS1591 // descriptor fields
    public ulong Base;
    public uint Limit;
    public ushort Selector;
    public byte Type, Present, Dpl, Db, S, L, G, Avl, Unusable, Padding;
#pragma warning restore CS1591
}

/// <summary>struct kvm_dtable (16 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmDtable
{
    /// <summary>Table base.</summary>
    public ulong Base;
    /// <summary>Limit (size - 1).</summary>
    public ushort Limit;
    private ushort _pad0, _pad1, _pad2;
}

/// <summary>struct kvm_sregs (312 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmSregs
{
#pragma warning disable CS1591 // register names
    public KvmSegment Cs, Ds, Es, Fs, Gs, Ss, Tr, Ldt;
    public KvmDtable Gdt, Idt;
    public ulong Cr0, Cr2, Cr3, Cr4, Cr8, Efer, ApicBase;
    public InterruptBitmap InterruptBitmap;
#pragma warning restore CS1591
}

/// <summary>kvm_sregs.interrupt_bitmap: 256 bits.</summary>
[InlineArray(4)]
public struct InterruptBitmap
{
    private ulong _element0;
}

/// <summary>struct kvm_userspace_memory_region (32 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmUserspaceMemoryRegion
{
    public uint Slot;
    public uint Flags;
    public ulong GuestPhysAddr;
    public ulong MemorySize;
    public ulong UserspaceAddr;

    public const uint FlagReadonly = 1 << 1;
}

/// <summary>struct kvm_cpuid_entry2 (40 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmCpuidEntry2
{
#pragma warning disable CS1591 // CPUID leaf fields
    public uint Function, Index, Flags, Eax, Ebx, Ecx, Edx;
    private uint _pad0, _pad1, _pad2;
#pragma warning restore CS1591
}

/// <summary>struct kvm_cpuid2 header (8 bytes), followed by nent entries.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmCpuid2Header
{
    public uint Nent;
    public uint Padding;
}

/// <summary>struct kvm_ioeventfd (64 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct KvmIoeventfd
{
    public ulong Datamatch;
    public ulong Addr;
    public uint Len;
    public int Fd;
    public uint Flags;
    public fixed byte Pad[36];

    public const uint FlagDatamatch = 1 << 0, FlagPio = 1 << 1, FlagDeassign = 1 << 2;
}

/// <summary>struct kvm_irqfd (32 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct KvmIrqfd
{
    public uint Fd;
    public uint Gsi;
    public uint Flags;
    public uint ResampleFd;
    public fixed byte Pad[16];

    public const uint FlagDeassign = 1 << 0;
}

/// <summary>struct kvm_irq_routing header (8 bytes), followed by nr entries.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmIrqRoutingHeader
{
    public uint Nr;
    public uint Flags;
}

/// <summary>struct kvm_irq_routing_entry (48 bytes); only the irqchip and MSI members of the union.</summary>
[StructLayout(LayoutKind.Explicit, Size = 48)]
internal struct KvmIrqRoutingEntry
{
    [FieldOffset(0)] public uint Gsi;
    [FieldOffset(4)] public uint Type;
    [FieldOffset(8)] public uint Flags;
    // union u at 16: irqchip { irqchip, pin } or msi { address_lo, address_hi, data, pad/devid }.
    [FieldOffset(16)] public uint IrqchipOrAddressLo;
    [FieldOffset(20)] public uint PinOrAddressHi;
    [FieldOffset(24)] public uint MsiData;
    [FieldOffset(28)] public uint MsiDevId;

    public const uint TypeIrqchip = 1, TypeMsi = 2;
    public const uint IrqchipPicMaster = 0, IrqchipPicSlave = 1, IrqchipIoapic = 2;
}

/// <summary>struct kvm_pit_config (64 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct KvmPitConfig
{
    public uint Flags;
    public fixed uint Pad[15];

    /// <summary>KVM_PIT_SPEAKER_DUMMY: the PC speaker port 0x61 is emulated too.</summary>
    public const uint SpeakerDummy = 1;
}

/// <summary>struct kvm_irq_level (8 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct KvmIrqLevel
{
    public uint Irq;
    public uint Level;
}

/// <summary>struct kvm_msi (32 bytes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct KvmMsi
{
    public uint AddressLo;
    public uint AddressHi;
    public uint Data;
    public uint Flags;
    public uint DevId;
    public fixed byte Pad[12];
}

/// <summary>The head of struct kvm_run and the exit-union members the core reads (offsets from linux/kvm.h).</summary>
[StructLayout(LayoutKind.Explicit)]
internal unsafe struct KvmRun
{
    [FieldOffset(0)] public byte RequestInterruptWindow;
    [FieldOffset(1)] public byte ImmediateExit;
    [FieldOffset(8)] public uint ExitReason;
    [FieldOffset(12)] public byte ReadyForInterruptInjection;
    [FieldOffset(13)] public byte IfFlag;

    // Union at 32. io: direction(u8), size(u8), port(u16), count(u32), data_offset(u64).
    [FieldOffset(32)] public byte IoDirection;
    [FieldOffset(33)] public byte IoSize;
    [FieldOffset(34)] public ushort IoPort;
    [FieldOffset(36)] public uint IoCount;
    [FieldOffset(40)] public ulong IoDataOffset;

    // mmio: phys_addr(u64), data[8], len(u32), is_write(u8).
    [FieldOffset(32)] public ulong MmioPhysAddr;
    [FieldOffset(40)] public fixed byte MmioData[8];
    [FieldOffset(48)] public uint MmioLen;
    [FieldOffset(52)] public byte MmioIsWrite;

    // internal: suberror(u32), ndata(u32), data[16] u64.
    [FieldOffset(32)] public uint InternalSuberror;
    [FieldOffset(36)] public uint InternalNdata;

    // fail_entry: hardware_entry_failure_reason(u64), cpu(u32).
    [FieldOffset(32)] public ulong FailEntryHardwareReason;

    // system_event: type(u32), ndata(u32).
    [FieldOffset(32)] public uint SystemEventType;

    public const byte IoDirectionIn = 0, IoDirectionOut = 1;
}
