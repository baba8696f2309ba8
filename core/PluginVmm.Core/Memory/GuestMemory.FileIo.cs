using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using PluginVmm.Core.Interop;
using PluginVmm.Sdk.Memory;

namespace PluginVmm.Core.Memory;

// Vectored file I/O between an fd and guest RAM: the iovecs point into the guest mappings, so a TAP frame or a disk
// request's data moves in one system call with no copy through a managed buffer (what QEMU's writev/preadv do).
public sealed unsafe partial class GuestMemory
{
    /// <inheritdoc/>
    public int MaxRanges => LibC.IOV_MAX;

    /// <inheritdoc/>
    public long WriteToFile(SafeFileHandle file, ReadOnlySpan<GuestRange> ranges, long offset) => Transfer(file, ranges, offset, write: true);

    /// <inheritdoc/>
    public long ReadFromFile(SafeFileHandle file, ReadOnlySpan<GuestRange> ranges, long offset) => Transfer(file, ranges, offset, write: false);

    private long Transfer(SafeFileHandle file, ReadOnlySpan<GuestRange> ranges, long offset, bool write)
    {
        ArgumentNullException.ThrowIfNull(file);
        if (ranges.Length > LibC.IOV_MAX) throw new ArgumentException($"{ranges.Length} ranges; at most {LibC.IOV_MAX} per call", nameof(ranges));
        if (ranges.IsEmpty) return 0;
        IoVec* iov = stackalloc IoVec[ranges.Length];
        for (int i = 0; i < ranges.Length; i++)
        {
            var (address, length) = ranges[i];
            // Every range is checked before the call: nothing moves when one is outside RAM.
            if (length < 0) throw new GuestMemoryException(address, 0);
            var r = Find(address, (ulong)length) ?? throw new GuestMemoryException(address, (ulong)length);
            // SAFETY: Find checked [address, address+length) lies inside r, which stays mapped until Dispose.
            iov[i] = new IoVec { Base = (byte*)r.HostAddress + (address - r.GuestAddress), Length = (nuint)length };
        }
        bool added = false;
        try
        {
            file.DangerousAddRef(ref added);
            int fd = (int)file.DangerousGetHandle();
            while (true)
            {
                nint n = (write, offset < 0) switch
                {
                    (true, true) => LibC.Writev(fd, iov, ranges.Length),
                    (true, false) => LibC.Pwritev(fd, iov, ranges.Length, offset),
                    (false, true) => LibC.Readv(fd, iov, ranges.Length),
                    (false, false) => LibC.Preadv(fd, iov, ranges.Length, offset),
                };
                if (n >= 0) return n;
                int errno = Marshal.GetLastPInvokeError();
                if (errno == Errno.EINTR) continue;
                if (errno == Errno.EAGAIN) return -1;   // a non-blocking fd with nothing to move now (EWOULDBLOCK too)
                string call = offset < 0 ? (write ? "writev" : "readv") : $"{(write ? "pwritev" : "preadv")} at {offset}";
                throw new IOException($"{call} of {ranges.Length} guest range(s) failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})");
            }
        }
        finally
        {
            if (added) file.DangerousRelease();
        }
    }
}
