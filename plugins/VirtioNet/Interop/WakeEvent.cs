using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace PluginVmm.Plugins.VirtioNet.Interop;

/// <summary>
/// A non-blocking eventfd that wakes the device's I/O loop out of poll(2): a doorbell that came as an MMIO exit,
/// new guest buffers reported through <c>QueueNotified</c>, or a reset.
/// </summary>
internal sealed class WakeEvent : IDisposable
{
    private readonly SafeFileHandle _handle;

    public WakeEvent()
    {
        int fd = TapNative.EventFd(0, TapNative.EfdNonBlock | TapNative.EfdCloExec);
        if (fd < 0) throw new IOException($"eventfd failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        _handle = new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>The descriptor to poll.</summary>
    public int Fd => (int)_handle.DangerousGetHandle();

    /// <summary>Makes the descriptor readable (an eventfd write never blocks short of 2^64 - 2 pending wakes).</summary>
    public void Set()
    {
        Span<byte> one = stackalloc byte[8];
        one.Clear();
        one[0] = 1;
        TapNative.Write(_handle, one, 8);
    }

    /// <summary>Clears it (nothing to read: EAGAIN, ignored).</summary>
    public void Clear()
    {
        Span<byte> counter = stackalloc byte[8];
        TapNative.Read(_handle, counter, 8);
    }

    public void Dispose() => _handle.Dispose();
}
