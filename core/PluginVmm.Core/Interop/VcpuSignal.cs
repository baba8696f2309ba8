using PluginVmm.Core.Interop;

namespace PluginVmm.Core.Interop;

/// <summary>
/// Kicking a vCPU thread out of KVM_RUN without a signal handler: the kick signal (SIGRTMIN+6; CoreCLR owns
/// SIGRTMIN) stays blocked in the vCPU thread, KVM_SET_SIGNAL_MASK unblocks it only inside KVM_RUN, so a kick
/// makes KVM_RUN return EINTR and the signal stays pending (never delivered) until <see cref="Drain"/>
/// consumes it. No managed code ever runs in signal context.
/// </summary>
internal static unsafe class VcpuSignal
{
    public static int Number { get; } = LibC.CurrentSigRtMin() + 6;

    /// <summary>Blocks the kick signal in the calling thread and returns its pthread_t.</summary>
    public static nuint BlockInCurrentThread()
    {
        var set = SigSet.Of(Number);
        int e = LibC.PthreadSigmask(LibC.SIG_BLOCK, &set, null);
        if (e != 0) throw new ErrnoException("pthread_sigmask", e);
        return LibC.PthreadSelf();
    }

    /// <summary>Sends the kick to a thread that has called <see cref="BlockInCurrentThread"/>.</summary>
    public static void Kick(nuint thread)
    {
        int e = LibC.PthreadKill(thread, Number);
        if (e != 0) throw new ErrnoException("pthread_kill", e);
    }

    /// <summary>Consumes a pending kick in the calling thread (so the next KVM_RUN does not return EINTR at once).</summary>
    public static void Drain()
    {
        var set = SigSet.Of(Number);
        var zero = new Timespec();
        while (LibC.SigTimedWait(&set, null, &zero) > 0) { }
    }
}
