using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace PluginVmm.Plugins.VirtioNet.Interop;

/// <summary>
/// The libc calls this plugin needs: for the TAP backend ioctl (TUNSETIFF/TUNSETOFFLOAD/TUNSETVNETHDRSZ), fcntl to make
/// the descriptor non-blocking and read for a frame into our own buffer; for the device's I/O loop poll (the TAP and
/// the doorbells at once) and an eventfd (eventfd, read, write) that wakes it. The project keeps interop isolated in one place per assembly: for this plugin, which may
/// reference only the SDK, that place is this folder. No <c>unsafe</c> code is written here: arguments are arrays,
/// refs and SafeHandles that the LibraryImport generator pins (the generator itself needs AllowUnsafeBlocks).
/// Constants are from linux/if_tun.h, poll.h and sys/eventfd.h (x86-64).
/// </summary>
internal static partial class TapNative
{
    public const uint TunSetIff = 0x400454CA;        // _IOW('T', 202, int)
    public const uint TunSetOffload = 0x400454D0;    // _IOW('T', 208, unsigned int)
    public const uint TunSetVnetHdrSz = 0x400454D8;  // _IOW('T', 216, int)
    public const uint TunGetSndBuf = 0x800454D3;     // _IOR('T', 211, int)
    public const uint TunSetSndBuf = 0x400454D4;     // _IOW('T', 212, int)
    public const short IffTap = 0x0002, IffNoPi = 0x1000, IffVnetHdr = 0x4000;
    public const uint TunFCsum = 0x01, TunFTso4 = 0x02, TunFTso6 = 0x04, TunFTsoEcn = 0x08;
    public const short PollIn = 0x001, PollOut = 0x004, PollErr = 0x008, PollHup = 0x010, PollNval = 0x020;
    public const int EfdNonBlock = 0x800, EfdCloExec = 0x80000;
    public const int FGetFl = 3, FSetFl = 4, ONonBlock = 0x800, EAgain = 11, EIntr = 4;

    /// <summary>struct ifreq is 40 bytes: the name (16) then a union whose first member here is ifr_flags.</summary>
    public const int IfReqSize = 40, IfNameSize = 16;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(SafeFileHandle fd, nuint request, byte[] arg);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(SafeFileHandle fd, nuint request, nuint arg);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(SafeFileHandle fd, int command, int argument);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(SafeFileHandle fd, Span<byte> buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(SafeFileHandle fd, ReadOnlySpan<byte> buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initialValue, int flags);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(ref PollFd fds, nuint count, int timeoutMs);
}
