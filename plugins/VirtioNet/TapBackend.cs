using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using PluginVmm.Sdk.Memory;
using PluginVmm.Plugins.VirtioNet.Interop;

namespace PluginVmm.Plugins.VirtioNet;

/// <summary>
/// A TAP interface opened through /dev/net/tun with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR (TUNSETIFF creates the
/// interface when it does not exist, which needs CAP_NET_ADMIN) and a 12-byte vnet header (TUNSETVNETHDRSZ), so
/// packets pass between the guest's virtqueues and the TAP unchanged. Bringing the interface up, addressing or
/// bridging it is the host administrator's business.
/// </summary>
public sealed class TapBackend : INetBackend
{
    /// <summary>virtio_net_hdr_v1 (with num_buffers), the header a VERSION_1 driver uses.</summary>
    public const int VnetHeaderSize = 12;

    private readonly SafeFileHandle _handle;

    private TapBackend(SafeFileHandle handle, string name)
    {
        _handle = handle;
        Name = name;
    }

    /// <summary>The interface name the kernel reports.</summary>
    public string Name { get; }

    /// <summary>Opens (creating if needed) TAP interface <paramref name="name"/>. Throws <see cref="IOException"/> naming the failing step.</summary>
    public static TapBackend Open(string name)
    {
        var handle = File.OpenHandle("/dev/net/tun", FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        try
        {
            var ifr = new byte[TapNative.IfReqSize];
            int n = Encoding.ASCII.GetBytes(name, ifr.AsSpan(0, TapNative.IfNameSize - 1));
            ifr[n] = 0;
            BinaryPrimitives.WriteInt16LittleEndian(ifr.AsSpan(TapNative.IfNameSize), TapNative.IffTap | TapNative.IffNoPi | TapNative.IffVnetHdr);
            Check(TapNative.Ioctl(handle, TapNative.TunSetIff, ifr), $"TUNSETIFF {name}");
            string actual = Encoding.ASCII.GetString(ifr, 0, Math.Max(0, Array.IndexOf(ifr, (byte)0)));
            var size = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(size, VnetHeaderSize);
            Check(TapNative.Ioctl(handle, TapNative.TunSetVnetHdrSz, size), "TUNSETVNETHDRSZ");
            Check(TapNative.Ioctl(handle, TapNative.TunSetOffload, 0), "TUNSETOFFLOAD");
            // The interface's send buffer bounds the bytes of our frames still queued in the host's stack; at the kernel's
            // default (net.core.wmem_default, ~208 KiB: three or four 64 KiB TSO frames) a write fails with EAGAIN while
            // the receiving socket's backlog holds a few. Unlimited, as QEMU sets it (its sndbuf=0 default): a frame is
            // then only ever refused when the host's stack is really out of memory, and waits for room, not dropped.
            var sndbuf = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(sndbuf, int.MaxValue);
            Check(TapNative.Ioctl(handle, TapNative.TunSetSndBuf, sndbuf), "TUNSETSNDBUF");
            // Non-blocking, so the receive thread reads until the queue is empty and polls only then (one poll per
            // burst, not per frame); a read with nothing there returns -1 (EAGAIN).
            int flags = TapNative.Fcntl(handle, TapNative.FGetFl, 0);
            Check(flags, "fcntl(F_GETFL)");
            Check(TapNative.Fcntl(handle, TapNative.FSetFl, flags | TapNative.ONonBlock), "fcntl(F_SETFL, O_NONBLOCK)");
            return new TapBackend(handle, actual);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static void Check(int result, string what)
    {
        if (result < 0) throw new IOException($"{what} failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
    }

    /// <inheritdoc/>
    public void SetOffload(uint tunFlags) => Check(TapNative.Ioctl(_handle, TapNative.TunSetOffload, tunFlags), "TUNSETOFFLOAD");

    /// <inheritdoc/>
    public void Write(ReadOnlySpan<byte> packet)
    {
        if (!TryWrite(packet)) throw new IOException($"TAP {Name} is full (EAGAIN)");
    }

    /// <inheritdoc/>
    public bool TryWrite(IGuestMemory memory, ReadOnlySpan<GuestRange> packet)
    {
        if (memory is not IGuestMemoryFileIo io || packet.Length > io.MaxRanges)
        {
            bool taken = true;
            PacketGather.CopyThenWrite(memory, packet, bytes => taken = TryWrite(bytes));
            return taken;
        }
        // One writev straight from guest RAM: one write is one frame for a TAP, and it takes all or nothing; -1 is
        // EAGAIN (the interface's send buffer is full: the frames it took are still queued in the host's stack).
        long written = io.WriteToFile(_handle, packet, -1);
        if (written < 0) return false;
        int length = PacketGather.Length(packet);
        if (written != length) throw new IOException($"TAP took {written} of {length} bytes");
        return true;
    }

    private bool TryWrite(ReadOnlySpan<byte> packet)
    {
        while (true)
        {
            nint n = TapNative.Write(_handle, packet, (nuint)packet.Length);
            if (n == packet.Length) return true;
            if (n >= 0) throw new IOException($"TAP took {n} of {packet.Length} bytes");
            int errno = Marshal.GetLastPInvokeError();
            if (errno == TapNative.EAgain) return false;
            if (errno != TapNative.EIntr) throw new IOException($"write to TAP {Name} failed: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
    }

    /// <summary>
    /// Waits for a frame. Throws <see cref="IOException"/> when the interface is gone (deleted with <c>ip link del</c>:
    /// the tun driver then answers poll with POLLERR at once, so a plain "not readable" would spin the receive thread).
    /// </summary>
    public bool WaitReadable(int timeoutMs)
    {
        var pfd = new TapNative.PollFd { Fd = PollFd, Events = TapNative.PollIn };
        if (TapNative.Poll(ref pfd, 1, timeoutMs) <= 0) return false;
        return NetLoopWaiter.Readable(pfd.Revents, $"TAP interface {Name}");
    }

    /// <inheritdoc/>
    public int PollFd => (int)_handle.DangerousGetHandle();

    /// <summary>The interface's send buffer in bytes (TUNGETSNDBUF).</summary>
    public int SendBufferBytes
    {
        get
        {
            var value = new byte[4];
            Check(TapNative.Ioctl(_handle, TapNative.TunGetSndBuf, value), "TUNGETSNDBUF");
            return BinaryPrimitives.ReadInt32LittleEndian(value);
        }
    }

    /// <summary>Reads one frame into <paramref name="buffer"/>; -1 when none is there (the descriptor is non-blocking).</summary>
    public int Read(Span<byte> buffer)
    {
        while (true)
        {
            nint n = TapNative.Read(_handle, buffer, (nuint)buffer.Length);
            if (n >= 0) return (int)n;
            int errno = Marshal.GetLastPInvokeError();
            if (errno == TapNative.EAgain) return -1;
            if (errno != TapNative.EIntr) throw new IOException($"read from TAP {Name} failed: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
    }

    /// <inheritdoc/>
    public int Read(IGuestMemory memory, ReadOnlySpan<GuestRange> buffers)
    {
        if (memory is not IGuestMemoryFileIo io || buffers.Length > io.MaxRanges) return PacketGather.ReadThenScatter(memory, buffers, Read);
        // One readv straight into guest RAM: one read is one frame (a frame longer than the ranges would be cut, but
        // the device passes ranges that hold the largest frame); -1 when none is there.
        return (int)io.ReadFromFile(_handle, buffers, -1);
    }

    /// <inheritdoc/>
    public void Dispose() => _handle.Dispose();
}
