using Microsoft.Win32.SafeHandles;

namespace PluginVmm.Core.Interop;

/// <summary>An owned Linux file descriptor; closed exactly once when disposed or finalized.</summary>
public sealed class FileDescriptor : SafeHandleZeroOrMinusOneIsInvalid
{
    /// <summary>Takes ownership of <paramref name="fd"/>.</summary>
    public FileDescriptor(int fd) : base(ownsHandle: true) => SetHandle(fd);

    /// <summary>The raw descriptor; valid while this object is alive and not disposed.</summary>
    public int Fd => (int)handle;

    // fd 0 is a valid descriptor; only -1 is invalid.
    /// <inheritdoc/>
    public override bool IsInvalid => (int)handle == -1;

    /// <inheritdoc/>
    protected override bool ReleaseHandle() => LibC.Close((int)handle) == 0;
}
