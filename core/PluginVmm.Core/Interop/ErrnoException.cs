using System.Runtime.InteropServices;

namespace PluginVmm.Core.Interop;

/// <summary>A system call failed; carries the call's name and errno with the strerror text.</summary>
public sealed class ErrnoException(string operation, int errno)
    : Exception($"{operation} failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})")
{
    /// <summary>What was being done, e.g. "KVM_CREATE_VM".</summary>
    public string Operation { get; } = operation;

    /// <summary>The errno value.</summary>
    public int Errno { get; } = errno;

    /// <summary>Throws for the errno of the last failed P/Invoke (read it right after the call).</summary>
    internal static ErrnoException FromLastError(string operation) => new(operation, Marshal.GetLastPInvokeError());
}
