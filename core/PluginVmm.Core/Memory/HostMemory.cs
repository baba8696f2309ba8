using PluginVmm.Core.Interop;
using PluginVmm.Sdk.Resources;

namespace PluginVmm.Core.Memory;

/// <summary>A shared mapping of a file or an fd (ivshmem files, VFIO regions), bounds-checked.</summary>
public sealed unsafe class HostMemory : IHostMemory
{
    private nint _address;

    private HostMemory(nint address, ulong size, bool readOnly)
    {
        _address = address;
        Size = size;
        ReadOnly = readOnly;
    }

    /// <inheritdoc/>
    public ulong Size { get; }

    /// <summary>True when mapped without PROT_WRITE.</summary>
    public bool ReadOnly { get; }

    /// <summary>Start of the mapping in this process (for a KVM memory slot); 0 after Dispose.</summary>
    public nint HostAddress => Volatile.Read(ref _address);

    /// <summary>Opens (creating if needed) <paramref name="path"/>, extends it to at least <paramref name="size"/>, and maps it shared.</summary>
    public static HostMemory MapFile(string path, ulong size, bool readOnly = false)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (size == 0) throw new ArgumentOutOfRangeException(nameof(size), "mapping size is zero");
        int flags = (readOnly ? LibC.O_RDONLY : LibC.O_RDWR | LibC.O_CREAT) | LibC.O_CLOEXEC;
        int fd = LibC.Open(path, flags, 0x180 /* 0600 */);
        if (fd < 0) throw ErrnoException.FromLastError($"open {path}");
        using var owned = new FileDescriptor(fd);
        if (!readOnly && new FileInfo(path).Length < (long)size && LibC.Ftruncate(fd, (long)size) != 0)
            throw ErrnoException.FromLastError($"ftruncate {path} to {size} bytes");
        // The mapping keeps the file referenced; the fd can close right after mmap.
        return MapFd(fd, 0, size, readOnly);
    }

    /// <summary>Maps <paramref name="size"/> bytes of <paramref name="fd"/> at <paramref name="offset"/> (MAP_SHARED). The caller keeps owning the fd.</summary>
    public static HostMemory MapFd(int fd, long offset, ulong size, bool readOnly = false)
    {
        if (size == 0) throw new ArgumentOutOfRangeException(nameof(size), "mapping size is zero");
        int prot = LibC.PROT_READ | (readOnly ? 0 : LibC.PROT_WRITE);
        // SAFETY: the kernel picks the address; size and offset are validated by mmap itself.
        void* p = LibC.Mmap(null, (nuint)size, prot, LibC.MAP_SHARED, fd, offset);
        if ((nint)p == LibC.MAP_FAILED) throw ErrnoException.FromLastError($"mmap of fd {fd} (+0x{offset:x}, 0x{size:x} bytes)");
        return new HostMemory((nint)p, size, readOnly);
    }

    /// <inheritdoc/>
    public Span<byte> GetSpan(ulong offset, int length)
    {
        nint a = HostAddress;
        ObjectDisposedException.ThrowIf(a == 0, this);
        if (length < 0 || offset > Size || (ulong)length > Size - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"0x{offset:x}+0x{length:x} is outside the 0x{Size:x}-byte mapping");
        // SAFETY: [offset, offset+length) was checked against the live mapping of Size bytes.
        return new Span<byte>((byte*)a + offset, length);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        nint a = Interlocked.Exchange(ref _address, 0);
        if (a != 0) _ = LibC.Munmap((void*)a, (nuint)Size);
    }
}
