namespace PluginVmm.Core.Interop;

/// <summary>errno values the core reacts to (Linux x86-64).</summary>
internal static class Errno
{
    public const int EPERM = 1, ENOENT = 2, EINTR = 4, EIO = 5, EBADF = 9, EAGAIN = 11, ENOMEM = 12, EFAULT = 14,
        EBUSY = 16, EEXIST = 17, ENODEV = 19, EINVAL = 22, ENOSYS = 38, ENOTTY = 25, E2BIG = 7, ENXIO = 6, ESRCH = 3;
}
