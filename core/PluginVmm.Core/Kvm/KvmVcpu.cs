using PluginVmm.Core.Interop;

namespace PluginVmm.Core.Kvm;

/// <summary>
/// One vCPU fd with its kvm_run mapping. Everything except <see cref="Kick"/> must be called from the single
/// thread that runs the vCPU (after <see cref="BindToCurrentThread"/>), or before that thread starts.
/// </summary>
public sealed class KvmVcpu : IDisposable
{
    private readonly FileDescriptor _fd;
    private readonly KvmRunMapping _run;
    private nuint _thread;       // pthread_t of the running thread, 0 until bound
    private volatile bool _bound;

    internal KvmVcpu(KvmVm vm, int id)
    {
        Id = id;
        _fd = new FileDescriptor(KvmNative.Call(vm.Handle, KvmIoctls.CreateVcpu, id, $"KVM_CREATE_VCPU {id}"));
        try { _run = new KvmRunMapping(_fd, vm.System.VcpuMmapSize); }
        catch { _fd.Dispose(); throw; }
    }

    /// <summary>vCPU index (APIC id).</summary>
    public int Id { get; }

    internal KvmRunMapping RunState => _run;

    /// <summary>KVM_SET_CPUID2 with <see cref="GuestCpuid"/>(supported, this vCPU's id, ...).</summary>
    public void SetCpuid(KvmCpuidEntry2[] supported, int vcpuCount, bool tscDeadline = false) =>
        KvmNative.SetCpuid2(_fd, GuestCpuid(supported, Id, vcpuCount, tscDeadline));

    /// <summary>
    /// The host's supported CPUID as vCPU <paramref name="id"/> sees it: its APIC id in leaf 1 EBX[31:24] and leaf
    /// 0xB/0x1F EDX, the logical processor count, the hypervisor bit, and TSC-deadline (leaf 1 ECX[24]) when
    /// <paramref name="tscDeadline"/>: KVM emulates that timer mode in its in-kernel LAPIC but does not report the bit
    /// in KVM_GET_SUPPORTED_CPUID (KVM_CAP_TSC_DEADLINE_TIMER says it), so QEMU and cloud-hypervisor set it
    /// themselves; without it Linux falls back to the LAPIC's one-shot mode.
    /// </summary>
    public static KvmCpuidEntry2[] GuestCpuid(KvmCpuidEntry2[] supported, int id, int vcpuCount, bool tscDeadline)
    {
        var entries = supported.ToArray();
        for (int i = 0; i < entries.Length; i++)
        {
            ref var e = ref entries[i];
            switch (e.Function)
            {
                case 1:
                    e.Ebx = (e.Ebx & 0x0000_FFFF) | ((uint)id << 24) | ((uint)Math.Min(vcpuCount, 255) << 16);
                    e.Ecx |= 1u << 31;  // running under a hypervisor
                    if (tscDeadline) e.Ecx |= 1u << 24;
                    break;
                case 0xB:
                case 0x1F:
                    e.Edx = (uint)id;
                    break;
            }
        }
        return entries;
    }

    /// <summary>KVM_GET_REGS.</summary>
    public KvmRegs GetRegs()
    {
        var r = default(KvmRegs);
        KvmNative.Call(_fd, KvmIoctls.GetRegs, ref r, "KVM_GET_REGS");
        return r;
    }

    /// <summary>KVM_SET_REGS.</summary>
    public void SetRegs(KvmRegs regs) => KvmNative.Call(_fd, KvmIoctls.SetRegs, ref regs, "KVM_SET_REGS");

    /// <summary>KVM_GET_SREGS.</summary>
    public KvmSregs GetSregs()
    {
        var s = default(KvmSregs);
        KvmNative.Call(_fd, KvmIoctls.GetSregs, ref s, "KVM_GET_SREGS");
        return s;
    }

    /// <summary>KVM_SET_SREGS.</summary>
    public void SetSregs(KvmSregs sregs) => KvmNative.Call(_fd, KvmIoctls.SetSregs, ref sregs, "KVM_SET_SREGS");

    /// <summary>
    /// Prepares the calling thread to run this vCPU and to be kicked: blocks the kick signal here and tells KVM
    /// to unblock it only inside KVM_RUN. Returns false (kicks then rely on <see cref="KvmRunMapping.ImmediateExit"/>
    /// alone) when KVM refuses the signal mask.
    /// </summary>
    public bool BindToCurrentThread()
    {
        _thread = VcpuSignal.BlockInCurrentThread();
        bool ok = KvmNative.TrySetEmptySignalMask(_fd, out _) >= 0;
        _bound = true;
        return ok;
    }

    /// <summary>
    /// Makes a running (or about to run) KVM_RUN return soon: sets immediate_exit and signals the vCPU thread.
    /// Safe from any thread.
    /// </summary>
    public void Kick()
    {
        _run.ImmediateExit = true;
        if (_bound) VcpuSignal.Kick(_thread);
    }

    /// <summary>
    /// One KVM_RUN. Returns null when it was interrupted (EINTR/EAGAIN, e.g. by <see cref="Kick"/>); otherwise the
    /// exit reason, with the details in <see cref="RunState"/>. Throws <see cref="ErrnoException"/> on other errors.
    /// </summary>
    internal KvmExitReason? RunOnce()
    {
        int r = KvmNative.TryCall(_fd, KvmIoctls.Run, 0, out int errno);
        if (r >= 0) return _run.ExitReason;
        if (errno is Errno.EINTR or Errno.EAGAIN)
        {
            if (_bound) VcpuSignal.Drain();
            _run.ImmediateExit = false;
            return null;
        }
        throw new ErrnoException($"KVM_RUN on vCPU {Id}", errno);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _run.Dispose();
        _fd.Dispose();
    }
}
