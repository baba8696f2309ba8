using System.Runtime.InteropServices;

namespace PluginVmm.Core.Interop;

/// <summary>kill(2): .NET can only SIGKILL another process, a graceful stop needs SIGTERM or SIGINT.</summary>
internal static partial class ProcessKill
{
    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);
}
