using System.Runtime.InteropServices;

namespace PluginVmm.Core.Interop;

/// <summary>
/// The libc calls the core makes. Flags and constants are Linux x86-64 values, passed through as the system
/// call expects. Every call sets errno; read it with <see cref="Marshal.GetLastPInvokeError"/> right after.
/// </summary>
internal static unsafe partial class LibC
{
    private const string Lib = "libc";

    public const int O_RDONLY = 0, O_RDWR = 2, O_CREAT = 0x40, O_CLOEXEC = 0x80000;
    public const int PROT_NONE = 0, PROT_READ = 1, PROT_WRITE = 2;
    public const int MAP_SHARED = 0x01, MAP_PRIVATE = 0x02, MAP_ANONYMOUS = 0x20, MAP_NORESERVE = 0x4000;
    public const int MADV_DONTFORK = 10, MADV_MERGEABLE = 12, MADV_HUGEPAGE = 14;
    public const int EFD_NONBLOCK = 0x800, EFD_CLOEXEC = 0x80000;
    public const int SIG_BLOCK = 0, SIG_UNBLOCK = 1;
    public static readonly nint MAP_FAILED = -1;

    [LibraryImport(Lib, EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, int mode);

    [LibraryImport(Lib, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport(Lib, EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, nuint request, void* arg);

    [LibraryImport(Lib, EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, nuint request, nint arg);

    [LibraryImport(Lib, EntryPoint = "mmap", SetLastError = true)]
    public static partial void* Mmap(void* addr, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport(Lib, EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(void* addr, nuint length);

    [LibraryImport(Lib, EntryPoint = "madvise", SetLastError = true)]
    public static partial int Madvise(void* addr, nuint length, int advice);

    // Guest-memory control (pvmemcontrol): callers pass only ranges checked to lie inside guest RAM.
    public const int MADV_FREE = 8, MADV_REMOVE = 9, MADV_DONTNEED = 4, MADV_UNMERGEABLE = 13, MADV_DONTDUMP = 16,
        MADV_PAGEOUT = 21;
    public const uint MLOCK_ONFAULT = 1;
    public const int PR_SET_VMA = 0x53564d41, PR_SET_VMA_ANON_NAME = 0;

    [LibraryImport(Lib, EntryPoint = "mprotect", SetLastError = true)]
    public static partial int Mprotect(void* addr, nuint length, int prot);

    [LibraryImport(Lib, EntryPoint = "mlock2", SetLastError = true)]
    public static partial int Mlock2(void* addr, nuint length, uint flags);

    [LibraryImport(Lib, EntryPoint = "munlock", SetLastError = true)]
    public static partial int Munlock(void* addr, nuint length);

    /// <summary>prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, addr, len, name): the variadic prctl with its five integer-class arguments.</summary>
    [LibraryImport(Lib, EntryPoint = "prctl", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int PrctlSetVmaName(int option, nuint subOption, void* addr, nuint length, string? name);

    [LibraryImport(Lib, EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int Ftruncate(int fd, long length);

    [LibraryImport(Lib, EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initval, int flags);

    [LibraryImport(Lib, EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, void* buf, nuint count);

    [LibraryImport(Lib, EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, void* buf, nuint count);

    /// <summary>IOV_MAX: the most iovecs one readv/writev takes.</summary>
    public const int IOV_MAX = 1024;

    [LibraryImport(Lib, EntryPoint = "readv", SetLastError = true)]
    public static partial nint Readv(int fd, IoVec* iov, int count);

    [LibraryImport(Lib, EntryPoint = "writev", SetLastError = true)]
    public static partial nint Writev(int fd, IoVec* iov, int count);

    [LibraryImport(Lib, EntryPoint = "preadv", SetLastError = true)]
    public static partial nint Preadv(int fd, IoVec* iov, int count, long offset);

    [LibraryImport(Lib, EntryPoint = "pwritev", SetLastError = true)]
    public static partial nint Pwritev(int fd, IoVec* iov, int count, long offset);

    public const short POLLIN = 0x001;

    [LibraryImport(Lib, EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fds, nuint nfds, int timeoutMs);

    [LibraryImport(Lib, EntryPoint = "pthread_self")]
    public static partial nuint PthreadSelf();

    /// <summary>Returns the error number (not -1/errno).</summary>
    [LibraryImport(Lib, EntryPoint = "pthread_kill")]
    public static partial int PthreadKill(nuint thread, int sig);

    /// <summary>Returns the error number (not -1/errno).</summary>
    [LibraryImport(Lib, EntryPoint = "pthread_sigmask")]
    public static partial int PthreadSigmask(int how, SigSet* set, SigSet* oldset);

    [LibraryImport(Lib, EntryPoint = "sigtimedwait", SetLastError = true)]
    public static partial int SigTimedWait(SigSet* set, void* info, Timespec* timeout);

    [LibraryImport(Lib, EntryPoint = "__libc_current_sigrtmin")]
    public static partial int CurrentSigRtMin();
}

/// <summary>glibc sigset_t (1024 bits). Only the low 64 bits are ever set here.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct SigSet
{
    public fixed ulong Bits[16];

    public static SigSet Of(int signal)
    {
        var s = default(SigSet);
        s.Bits[(signal - 1) / 64] |= 1UL << ((signal - 1) % 64);
        return s;
    }
}

/// <summary>struct iovec.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct IoVec
{
    public void* Base;
    public nuint Length;
}

/// <summary>struct pollfd.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PollFd
{
    public int Fd;
    public short Events;
    public short Revents;
}

/// <summary>struct timespec.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct Timespec
{
    public long Seconds;
    public long Nanoseconds;
}
