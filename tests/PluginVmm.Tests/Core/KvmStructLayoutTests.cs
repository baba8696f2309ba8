using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using PluginVmm.Core.Interop;
using Xunit;

namespace PluginVmm.Tests.Core;

// Expected values come from linux/kvm.h on x86-64 (sizeof/offsetof/ioctl numbers printed by a C program).
public sealed class KvmStructLayoutTests
{
    [Fact]
    public void StructSizes_MatchKernelHeaders()
    {
        Assert.Equal(144, Unsafe.SizeOf<KvmRegs>());
        Assert.Equal(24, Unsafe.SizeOf<KvmSegment>());
        Assert.Equal(312, Unsafe.SizeOf<KvmSregs>());
        Assert.Equal(32, Unsafe.SizeOf<KvmUserspaceMemoryRegion>());
        Assert.Equal(40, Unsafe.SizeOf<KvmCpuidEntry2>());
        Assert.Equal(8, Unsafe.SizeOf<KvmCpuid2Header>());
        Assert.Equal(64, Unsafe.SizeOf<KvmIoeventfd>());
        Assert.Equal(32, Unsafe.SizeOf<KvmIrqfd>());
        Assert.Equal(8, Unsafe.SizeOf<KvmIrqRoutingHeader>());
        Assert.Equal(48, Unsafe.SizeOf<KvmIrqRoutingEntry>());
        Assert.Equal(64, Unsafe.SizeOf<KvmPitConfig>());
        Assert.Equal(8, Unsafe.SizeOf<KvmIrqLevel>());
        Assert.Equal(32, Unsafe.SizeOf<KvmMsi>());
    }

    [Fact]
    public void FieldOffsets_MatchKernelHeaders()
    {
        Assert.Equal(192, (int)Marshal.OffsetOf<KvmSregs>(nameof(KvmSregs.Gdt)));
        Assert.Equal(224, (int)Marshal.OffsetOf<KvmSregs>(nameof(KvmSregs.Cr0)));
        Assert.Equal(264, (int)Marshal.OffsetOf<KvmSregs>(nameof(KvmSregs.Efer)));
        Assert.Equal(272, (int)Marshal.OffsetOf<KvmSregs>(nameof(KvmSregs.ApicBase)));
        Assert.Equal(20, (int)Marshal.OffsetOf<KvmIoeventfd>(nameof(KvmIoeventfd.Fd)));
        Assert.Equal(24, (int)Marshal.OffsetOf<KvmIoeventfd>(nameof(KvmIoeventfd.Flags)));
        Assert.Equal(16, (int)Marshal.OffsetOf<KvmIrqRoutingEntry>(nameof(KvmIrqRoutingEntry.IrqchipOrAddressLo)));
        Assert.Equal(1, (int)Marshal.OffsetOf<KvmRun>(nameof(KvmRun.ImmediateExit)));
        Assert.Equal(8, (int)Marshal.OffsetOf<KvmRun>(nameof(KvmRun.ExitReason)));
        Assert.Equal(32, (int)Marshal.OffsetOf<KvmRun>(nameof(KvmRun.IoDirection)));
        Assert.Equal(40, (int)Marshal.OffsetOf<KvmRun>(nameof(KvmRun.IoDataOffset)));
        Assert.Equal(32, (int)Marshal.OffsetOf<KvmRun>(nameof(KvmRun.MmioPhysAddr)));
        Assert.Equal(48, (int)Marshal.OffsetOf<KvmRun>(nameof(KvmRun.MmioLen)));
        Assert.Equal(52, (int)Marshal.OffsetOf<KvmRun>(nameof(KvmRun.MmioIsWrite)));
    }

    [Fact]
    public void IoctlNumbers_MatchKernelHeaders()
    {
        Assert.Equal((nuint)0xAE00, KvmIoctls.GetApiVersion);
        Assert.Equal((nuint)0xAE01, KvmIoctls.CreateVm);
        Assert.Equal((nuint)0xC008AE05, KvmIoctls.GetSupportedCpuid);
        Assert.Equal((nuint)0x4020AE46, KvmIoctls.SetUserMemoryRegion);
        Assert.Equal((nuint)0x4008AE48, KvmIoctls.SetIdentityMapAddr);
        Assert.Equal((nuint)0x4008AE61, KvmIoctls.IrqLine);
        Assert.Equal((nuint)0x4008AE6A, KvmIoctls.SetGsiRouting);
        Assert.Equal((nuint)0x4020AE76, KvmIoctls.Irqfd);
        Assert.Equal((nuint)0x4040AE77, KvmIoctls.CreatePit2);
        Assert.Equal((nuint)0x4040AE79, KvmIoctls.Ioeventfd);
        Assert.Equal((nuint)0x4020AEA5, KvmIoctls.SignalMsi);
        Assert.Equal((nuint)0xAE80, KvmIoctls.Run);
        Assert.Equal((nuint)0x8090AE81, KvmIoctls.GetRegs);
        Assert.Equal((nuint)0x4090AE82, KvmIoctls.SetRegs);
        Assert.Equal((nuint)0x8138AE83, KvmIoctls.GetSregs);
        Assert.Equal((nuint)0x4138AE84, KvmIoctls.SetSregs);
        Assert.Equal((nuint)0x4004AE8B, KvmIoctls.SetSignalMask);
        Assert.Equal((nuint)0x4008AE90, KvmIoctls.SetCpuid2);
    }
}
