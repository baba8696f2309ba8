using PluginVmm.Plugins.VirtioNet.Interop;
using PluginVmm.Sdk.Resources;

namespace PluginVmm.Plugins.VirtioNet;

/// <summary>
/// The one wait of virtio-net's I/O loop: a single poll(2) over the TAP, the two doorbell ioeventfds the transport
/// handed over (<see cref="Sdk.Virtio.VirtioActivation.TakeDoorbell"/>) and a wake-up eventfd, so one thread serves
/// both directions and wakes once for whatever is ready, as QEMU's main loop does. The TAP is left out while the
/// receive side waits for guest buffers (its packets stay in the kernel's queue). While the transmit side holds a frame
/// the backend refused (its queue full), the TAP is polled for room (POLLOUT) and the TX doorbell is left out: the loop
/// knows there is work, and a doorbell then would only wake it to be refused again.
/// <para>
/// A backend without a descriptor (a test double, <see cref="INetBackend.PollFd"/> -1) is checked with
/// <see cref="INetBackend.WaitReadable"/> after a poll of the others that does not sleep. It is asked at every wait,
/// with 0 when the loop is not reading from it: that call is how such a backend learns the device is idle. A doorbell
/// without a descriptor comes through <see cref="Wake"/>.
/// </para>
/// Used by the I/O thread only, except <see cref="Wake"/> (any thread).
/// </summary>
internal sealed class NetLoopWaiter(INetBackend? backend, string backendName, IIoEvent? rxDoorbell, IIoEvent? txDoorbell) : IDisposable
{
    /// <summary>What a wait found.</summary>
    [Flags]
    public enum Ready
    {
        None = 0,
        Backend = 1,
        RxDoorbell = 2,
        TxDoorbell = 4,
        Woken = 8,
        BackendWritable = 16,
    }

    private readonly WakeEvent _wake = new();
    private readonly TapNative.PollFd[] _fds = new TapNative.PollFd[4];

    /// <summary>Ends the current or next wait at once.</summary>
    public void Wake() => _wake.Set();

    /// <summary>
    /// Waits up to <paramref name="timeoutMs"/> (0: just looks) for a doorbell, a wake-up, when
    /// <paramref name="includeBackend"/> a packet from the backend, and when <paramref name="waitWritable"/> room in the
    /// backend (instead of the TX doorbell); consumes the doorbells and the wake-up it reports. Throws
    /// <see cref="IOException"/> when the backend's descriptor reports it gone.
    /// </summary>
    public Ready Wait(bool includeBackend, int timeoutMs, bool waitWritable = false)
    {
        bool withoutFd = backend is not null && backend.PollFd < 0;
        includeBackend &= backend is not null;
        waitWritable &= backend is not null;
        bool pollBackend = (includeBackend || waitWritable) && !withoutFd;
        if (withoutFd && !includeBackend) backend!.WaitReadable(0);
        int count = 0;
        _fds[count++] = Entry(_wake.Fd, TapNative.PollIn);
        int tx = txDoorbell is null || waitWritable ? -1 : count;
        if (tx >= 0) _fds[count++] = Entry(txDoorbell!.Fd, TapNative.PollIn);
        int rx = rxDoorbell is null ? -1 : count;
        if (rxDoorbell is not null) _fds[count++] = Entry(rxDoorbell.Fd, TapNative.PollIn);
        int tap = pollBackend ? count : -1;
        if (pollBackend)
            _fds[count++] = Entry(backend!.PollFd, (short)((includeBackend ? TapNative.PollIn : 0) | (waitWritable ? TapNative.PollOut : 0)));

        // A backend without a descriptor is asked after a poll of the others that does not sleep.
        bool checkBackend = (includeBackend || waitWritable) && withoutFd;
        var ready = Ready.None;
        // EINTR or a timeout: nothing ready (the loop comes back).
        if (TapNative.Poll(ref _fds[0], (nuint)count, checkBackend ? 0 : timeoutMs) > 0)
        {
            if (_fds[0].Revents != 0)
            {
                _wake.Clear();
                ready |= Ready.Woken;
            }
            if (tx >= 0 && _fds[tx].Revents != 0 && txDoorbell!.TryConsume(out _)) ready |= Ready.TxDoorbell;
            if (rx >= 0 && _fds[rx].Revents != 0 && rxDoorbell!.TryConsume(out _)) ready |= Ready.RxDoorbell;
            if (tap >= 0 && _fds[tap].Revents != 0)
            {
                if (Readable(_fds[tap].Revents, backendName)) ready |= Ready.Backend;
                if ((_fds[tap].Revents & TapNative.PollOut) != 0) ready |= Ready.BackendWritable;
            }
        }
        if (checkBackend && ready == Ready.None)
        {
            if (waitWritable && backend!.WaitWritable(includeBackend ? 0 : Math.Min(timeoutMs, 1))) ready |= Ready.BackendWritable;
            if (includeBackend && backend!.WaitReadable(ready == Ready.None ? Math.Min(timeoutMs, 1) : 0)) ready |= Ready.Backend;
        }
        return ready;
    }

    private static TapNative.PollFd Entry(int fd, short events) => new() { Fd = fd, Events = events };

    /// <summary>
    /// What poll's <paramref name="revents"/> for a backend descriptor mean: true for a packet to read (POLLIN); throws
    /// <see cref="IOException"/> naming <paramref name="what"/> when it is gone (POLLERR/POLLHUP/POLLNVAL: a deleted TAP
    /// answers every poll at once with POLLERR, so "not readable" would spin the loop); false otherwise (POLLOUT alone).
    /// </summary>
    internal static bool Readable(short revents, string what)
    {
        if ((revents & TapNative.PollIn) != 0) return true;
        if ((revents & (TapNative.PollErr | TapNative.PollHup | TapNative.PollNval)) != 0)
            throw new IOException($"{what} is gone (poll revents 0x{revents:x})");
        return false;
    }

    public void Dispose() => _wake.Dispose();
}
