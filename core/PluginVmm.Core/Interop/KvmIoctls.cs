using static PluginVmm.Core.Interop.IoctlCodes;

namespace PluginVmm.Core.Interop;

/// <summary>KVM ioctl numbers (linux/kvm.h), computed from the struct sizes declared here.</summary>
internal static unsafe class KvmIoctls
{
    private const uint KVMIO = 0xAE;

    // System (/dev/kvm).
    public static readonly nuint GetApiVersion = IO(KVMIO, 0x00);
    public static readonly nuint CreateVm = IO(KVMIO, 0x01);
    public static readonly nuint CheckExtension = IO(KVMIO, 0x03);
    public static readonly nuint GetVcpuMmapSize = IO(KVMIO, 0x04);
    public static readonly nuint GetSupportedCpuid = IOWR(KVMIO, 0x05, sizeof(KvmCpuid2Header));

    // VM.
    public static readonly nuint CreateVcpu = IO(KVMIO, 0x41);
    public static readonly nuint SetUserMemoryRegion = IOW(KVMIO, 0x46, sizeof(KvmUserspaceMemoryRegion));
    public static readonly nuint SetTssAddr = IO(KVMIO, 0x47);
    public static readonly nuint SetIdentityMapAddr = IOW(KVMIO, 0x48, sizeof(ulong));
    public static readonly nuint CreateIrqchip = IO(KVMIO, 0x60);
    public static readonly nuint IrqLine = IOW(KVMIO, 0x61, sizeof(KvmIrqLevel));
    public static readonly nuint SetGsiRouting = IOW(KVMIO, 0x6a, sizeof(KvmIrqRoutingHeader));
    public static readonly nuint Irqfd = IOW(KVMIO, 0x76, sizeof(KvmIrqfd));
    public static readonly nuint CreatePit2 = IOW(KVMIO, 0x77, sizeof(KvmPitConfig));
    public static readonly nuint Ioeventfd = IOW(KVMIO, 0x79, sizeof(KvmIoeventfd));
    public static readonly nuint SignalMsi = IOW(KVMIO, 0xa5, sizeof(KvmMsi));

    // vCPU.
    public static readonly nuint Run = IO(KVMIO, 0x80);
    public static readonly nuint GetRegs = IOR(KVMIO, 0x81, sizeof(KvmRegs));
    public static readonly nuint SetRegs = IOW(KVMIO, 0x82, sizeof(KvmRegs));
    public static readonly nuint GetSregs = IOR(KVMIO, 0x83, sizeof(KvmSregs));
    public static readonly nuint SetSregs = IOW(KVMIO, 0x84, sizeof(KvmSregs));
    public static readonly nuint SetSignalMask = IOW(KVMIO, 0x8b, sizeof(uint));
    public static readonly nuint SetCpuid2 = IOW(KVMIO, 0x90, sizeof(KvmCpuid2Header));
}

/// <summary>KVM_CAP_* numbers used by the core.</summary>
internal static class KvmCap
{
    public const int Irqchip = 0, UserMemory = 3, SetTssAddr = 4, ExtCpuid = 7, IrqRouting = 25, Iommu = 18,
        NrMemslots = 10, Pit2 = 33, Ioeventfd = 36, SetIdentityMapAddr = 37, Irqfd = 32, SignalMsi = 77,
        ImmediateExit = 136, MaxVcpus = 66, NrVcpus = 9, TscDeadlineTimer = 72;
}

/// <summary>kvm_run.exit_reason values.</summary>
public enum KvmExitReason : uint
{
#pragma warning disable CS1591 // names are the kernel's KVM_EXIT_* constants
    Unknown = 0, Exception = 1, Io = 2, Hypercall = 3, Debug = 4, Hlt = 5, Mmio = 6, IrqWindowOpen = 7,
    Shutdown = 8, FailEntry = 9, Intr = 10, SetTpr = 11, TprAccess = 12, Nmi = 16, InternalError = 17,
    SystemEvent = 24,
#pragma warning restore CS1591
}
