using System.Runtime.InteropServices;
using PluginVmm.Core.Interop;

namespace PluginVmm.Core.Hosting;

/// <summary>Signals to another process (the nested backend stops a VMM in its helper as Ctrl-C would).</summary>
public static class ProcessSignal
{
    /// <summary>SIGINT, as Ctrl-C sends it.</summary>
    public const int Interrupt = 2;

    /// <summary>SIGTERM.</summary>
    public const int Terminate = 15;

    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/>; false when the process is gone.</summary>
    public static bool Send(int pid, int signal)
    {
        if (ProcessKill.Kill(pid, signal) == 0) return true;
        int errno = Marshal.GetLastPInvokeError();
        return errno == Errno.ESRCH ? false : throw new ErrnoException("kill", errno);
    }

    /// <summary>True when <paramref name="pid"/> names a live process (signal 0 probes without sending).</summary>
    public static bool IsAlive(int pid) => pid > 0 && (ProcessKill.Kill(pid, 0) == 0 || Marshal.GetLastPInvokeError() == Errno.EPERM);
}
