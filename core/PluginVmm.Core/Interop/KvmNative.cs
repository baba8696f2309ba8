using System.Runtime.InteropServices;

namespace PluginVmm.Core.Interop;

/// <summary>
/// Safe wrappers over the KVM ioctls: fixed-size structs go by reference, variable-size ones (cpuid2,
/// irq_routing) are laid out here. Callers outside Interop never see a pointer.
/// </summary>
internal static unsafe class KvmNative
{
    /// <summary>ioctl with an integer argument; returns the result or throws.</summary>
    public static int Call(SafeHandle fd, nuint request, nint arg, string name)
    {
        int r = TryCall(fd, request, arg, out int errno);
        return r >= 0 ? r : throw new ErrnoException(name, errno);
    }

    /// <summary>ioctl with an integer argument; returns -1 and the errno on failure.</summary>
    public static int TryCall(SafeHandle fd, nuint request, nint arg, out int errno)
    {
        bool added = false;
        try
        {
            fd.DangerousAddRef(ref added);
            int r = LibC.Ioctl((int)fd.DangerousGetHandle(), request, arg);
            errno = r < 0 ? Marshal.GetLastPInvokeError() : 0;
            return r;
        }
        finally
        {
            if (added) fd.DangerousRelease();
        }
    }

    /// <summary>ioctl with a pointer to <paramref name="value"/>; returns the result or throws.</summary>
    public static int Call<T>(SafeHandle fd, nuint request, ref T value, string name) where T : unmanaged
    {
        int r = TryCall(fd, request, ref value, out int errno);
        return r >= 0 ? r : throw new ErrnoException(name, errno);
    }

    /// <summary>ioctl with a pointer to <paramref name="value"/>; returns -1 and the errno on failure.</summary>
    public static int TryCall<T>(SafeHandle fd, nuint request, ref T value, out int errno) where T : unmanaged
    {
        // SAFETY: value is a pinned blittable local/field of exactly the size encoded in request.
        fixed (T* p = &value) return TryCall(fd, request, (nint)p, out errno);
    }

    /// <summary>KVM_GET_SUPPORTED_CPUID: retries with a bigger buffer on E2BIG.</summary>
    public static KvmCpuidEntry2[] GetSupportedCpuid(SafeHandle kvm)
    {
        for (int n = 128; ; n *= 2)
        {
            var buffer = new byte[sizeof(KvmCpuid2Header) + n * sizeof(KvmCpuidEntry2)];
            // SAFETY: the buffer holds the header plus n entries, as nent = n tells the kernel.
            fixed (byte* p = buffer)
            {
                ((KvmCpuid2Header*)p)->Nent = (uint)n;
                int r = TryCall(kvm, KvmIoctls.GetSupportedCpuid, (nint)p, out int errno);
                if (r < 0 && errno == Errno.E2BIG && n < 4096) continue;
                if (r < 0) throw new ErrnoException("KVM_GET_SUPPORTED_CPUID", errno);
                int count = (int)Math.Min(((KvmCpuid2Header*)p)->Nent, (uint)n);
                return new ReadOnlySpan<KvmCpuidEntry2>(p + sizeof(KvmCpuid2Header), count).ToArray();
            }
        }
    }

    /// <summary>KVM_SET_CPUID2.</summary>
    public static void SetCpuid2(SafeHandle vcpu, ReadOnlySpan<KvmCpuidEntry2> entries)
    {
        var buffer = new byte[sizeof(KvmCpuid2Header) + entries.Length * sizeof(KvmCpuidEntry2)];
        // SAFETY: header + entries.Length entries fit the buffer exactly.
        fixed (byte* p = buffer)
        {
            ((KvmCpuid2Header*)p)->Nent = (uint)entries.Length;
            entries.CopyTo(new Span<KvmCpuidEntry2>(p + sizeof(KvmCpuid2Header), entries.Length));
            Call(vcpu, KvmIoctls.SetCpuid2, (nint)p, "KVM_SET_CPUID2");
        }
    }

    /// <summary>KVM_SET_GSI_ROUTING: replaces the whole routing table.</summary>
    public static int TrySetGsiRouting(SafeHandle vm, ReadOnlySpan<KvmIrqRoutingEntry> entries, out int errno)
    {
        var buffer = new byte[sizeof(KvmIrqRoutingHeader) + entries.Length * sizeof(KvmIrqRoutingEntry)];
        // SAFETY: header + entries.Length entries fit the buffer exactly.
        fixed (byte* p = buffer)
        {
            ((KvmIrqRoutingHeader*)p)->Nr = (uint)entries.Length;
            entries.CopyTo(new Span<KvmIrqRoutingEntry>(p + sizeof(KvmIrqRoutingHeader), entries.Length));
            return TryCall(vm, KvmIoctls.SetGsiRouting, (nint)p, out errno);
        }
    }

    /// <summary>KVM_SET_SIGNAL_MASK with an empty mask: while in KVM_RUN no signal is blocked, so a kick interrupts it.</summary>
    public static int TrySetEmptySignalMask(SafeHandle vcpu, out int errno)
    {
        // struct kvm_signal_mask { __u32 len; __u8 sigset[]; } with the kernel's 8-byte sigset.
        ulong* buf = stackalloc ulong[2];
        buf[0] = 8;  // len in the low 4 bytes; the sigset starts at byte 4
        buf[1] = 0;
        return TryCall(vcpu, KvmIoctls.SetSignalMask, (nint)buf, out errno);
    }
}
