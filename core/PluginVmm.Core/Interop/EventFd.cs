using PluginVmm.Sdk.Resources;

namespace PluginVmm.Core.Interop;

/// <summary>A non-blocking eventfd (counter semantics): ioeventfds, irqfds, wake-ups.</summary>
public sealed unsafe class EventFd : IIoEvent
{
    private readonly FileDescriptor _fd;

    /// <summary>Creates a non-blocking, close-on-exec eventfd with counter 0.</summary>
    public EventFd()
    {
        int fd = LibC.EventFd(0, LibC.EFD_NONBLOCK | LibC.EFD_CLOEXEC);
        if (fd < 0) throw ErrnoException.FromLastError("eventfd");
        _fd = new FileDescriptor(fd);
    }

    /// <inheritdoc/>
    public int Fd => _fd.IsClosed ? throw new ObjectDisposedException(nameof(EventFd)) : _fd.Fd;

    /// <summary>The owned descriptor (for ioctls that take the fd).</summary>
    public FileDescriptor Handle => _fd;

    /// <summary>Adds <paramref name="value"/> to the counter (wakes a waiter or makes KVM inject an irqfd interrupt).</summary>
    public void Signal(ulong value = 1)
    {
        // SAFETY: writes exactly the 8-byte value from this stack slot.
        if (LibC.Write(Fd, &value, 8) != 8) throw ErrnoException.FromLastError("eventfd write");
    }

    /// <inheritdoc/>
    public bool TryConsume(out ulong count)
    {
        ulong v = 0;
        // SAFETY: reads exactly 8 bytes into this stack slot; EAGAIN (counter 0) returns -1.
        bool ok = LibC.Read(Fd, &v, 8) == 8;
        count = ok ? v : 0;
        return ok;
    }

    /// <inheritdoc/>
    public bool Wait(CancellationToken cancellationToken)
    {
        // poll(2) in slices so cancellation is seen within one slice without a second wake-up descriptor.
        const int SliceMs = 50;
        while (!cancellationToken.IsCancellationRequested)
        {
            if (TryConsume(out _)) return true;
            var pfd = new PollFd { Fd = Fd, Events = LibC.POLLIN };
            // SAFETY: one pollfd on this stack frame; EINTR and timeouts just loop.
            LibC.Poll(&pfd, 1, SliceMs);
        }
        return false;
    }

    /// <inheritdoc/>
    public void Dispose() => _fd.Dispose();
}
