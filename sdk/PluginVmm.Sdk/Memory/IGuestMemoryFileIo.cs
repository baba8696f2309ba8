using Microsoft.Win32.SafeHandles;

namespace PluginVmm.Sdk.Memory;

/// <summary>
/// Vectored file I/O straight between a file descriptor and guest RAM: one readv/writev (or preadv/pwritev) system
/// call for many guest buffers, with no copy through a managed buffer. An optional capability of an
/// <see cref="IGuestMemory"/> (the VMM's guest RAM has it; test memories need not): test with
/// <c>memory is IGuestMemoryFileIo io</c> and fall back to span-by-span I/O otherwise.
/// <para>
/// Every range is checked against guest RAM before any I/O, as <see cref="IGuestMemory.GetSpan"/> checks it: a range
/// outside RAM (or with a negative length) throws <see cref="GuestMemoryException"/> and nothing is transferred. The
/// transfer is the system call's: it may be short (end of file, a signal); a failure throws
/// <see cref="IOException"/> with the errno text, except that a non-blocking descriptor with nothing to transfer now
/// (EAGAIN) returns -1, so a reader can drain a TAP until it is empty without an exception per burst. The guest's
/// vCPUs may change the bytes concurrently.
/// </para>
/// </summary>
public interface IGuestMemoryFileIo
{
    /// <summary>The most ranges one call takes (the kernel's IOV_MAX, 1024).</summary>
    int MaxRanges { get; }

    /// <summary>
    /// Writes the bytes of <paramref name="ranges"/>, in order, to <paramref name="file"/> in one system call: at
    /// <paramref name="offset"/> (pwritev), or at the file's position when it is negative (writev: pipes, sockets,
    /// TAP devices, where one call is one packet). Returns the bytes written (-1: it would block).
    /// </summary>
    long WriteToFile(SafeFileHandle file, ReadOnlySpan<GuestRange> ranges, long offset);

    /// <summary>
    /// Reads from <paramref name="file"/> into <paramref name="ranges"/>, in order, in one system call: at
    /// <paramref name="offset"/> (preadv), or at the file's position when it is negative (readv). Returns the bytes
    /// read (0 at end of file, -1: it would block).
    /// </summary>
    long ReadFromFile(SafeFileHandle file, ReadOnlySpan<GuestRange> ranges, long offset);
}
