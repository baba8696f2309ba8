using System.Buffers;
using PluginVmm.Sdk.Memory;

namespace PluginVmm.Plugins.VirtioNet;

/// <summary>
/// Where guest frames go and host frames come from. Frames are whole virtio-net packets: the 12-byte
/// virtio_net_hdr_v1 followed by the Ethernet frame.
/// </summary>
public interface INetBackend : IDisposable
{
    /// <summary>Sends one packet from the guest.</summary>
    void Write(ReadOnlySpan<byte> packet);

    /// <summary>
    /// Sends one packet whose bytes are <paramref name="packet"/>'s guest ranges, in order (a TX chain's readable
    /// buffers; each checked to lie in guest RAM). False when the backend cannot take it now (its queue is full) and
    /// nothing was sent: the device keeps the frame, and the guest's later ones behind it, until the backend can take
    /// more (<see cref="PollFd"/> polls writable, or <see cref="WaitWritable"/>), then offers it again. This default
    /// gathers the ranges into one buffer for <see cref="Write(ReadOnlySpan{byte})"/> and always takes the packet; a
    /// backend over a file descriptor writes them straight from guest RAM.
    /// </summary>
    bool TryWrite(IGuestMemory memory, ReadOnlySpan<GuestRange> packet)
    {
        PacketGather.CopyThenWrite(memory, packet, Write);
        return true;
    }

    /// <summary>Waits up to <paramref name="timeoutMs"/> for a packet to read; true when one is there.</summary>
    bool WaitReadable(int timeoutMs);

    /// <summary>
    /// For a backend without <see cref="PollFd"/> that refused a packet (<see cref="TryWrite"/> false): waits up to
    /// <paramref name="timeoutMs"/> for room; true when the device should offer it again. This default: always room.
    /// </summary>
    bool WaitWritable(int timeoutMs) => true;

    /// <summary>
    /// A descriptor that polls readable (POLLIN) while a packet is there, writable (POLLOUT) while a packet can be sent,
    /// and POLLERR/POLLHUP once the backend is gone; the device's I/O loop waits on it together with the doorbells. This default, -1, is for a backend without one
    /// (a test double): the loop then checks <see cref="WaitReadable"/> between short polls of the doorbells.
    /// </summary>
    int PollFd => -1;

    /// <summary>Reads one packet (header + frame) into <paramref name="buffer"/>; returns its length (0 or -1: none now).</summary>
    int Read(Span<byte> buffer);

    /// <summary>
    /// Reads one packet into <paramref name="buffers"/>' guest ranges, in order (an RX chain's writable buffers, each
    /// checked to lie in guest RAM and together large enough for any packet); returns its length (0 or -1: none now). This
    /// default reads into a pooled buffer and copies; a backend over a file descriptor reads straight into guest RAM.
    /// </summary>
    int Read(IGuestMemory memory, ReadOnlySpan<GuestRange> buffers) => PacketGather.ReadThenScatter(memory, buffers, Read);

    /// <summary>Tells the backend which offloads the guest accepts on receive (TUN_F_* bits).</summary>
    void SetOffload(uint tunFlags);
}

/// <summary>The copying path of <see cref="INetBackend.Write(IGuestMemory, ReadOnlySpan{GuestRange})"/>.</summary>
public static class PacketGather
{
    /// <summary>The ranges' total length.</summary>
    public static int Length(ReadOnlySpan<GuestRange> packet)
    {
        int length = 0;
        foreach (var r in packet) length = checked(length + r.Length);
        return length;
    }

    /// <summary>Copies the ranges into one pooled buffer and hands it to <paramref name="write"/>.</summary>
    public static void CopyThenWrite(IGuestMemory memory, ReadOnlySpan<GuestRange> packet, SpanWriter write)
    {
        int length = Length(packet);
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            int done = 0;
            foreach (var r in packet)
            {
                memory.Read(r.Address, buffer.AsSpan(done, r.Length));
                done += r.Length;
            }
            write(buffer.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Reads one packet with <paramref name="read"/> into a pooled buffer as large as the ranges together, then copies
    /// it into them; returns its length.
    /// </summary>
    public static int ReadThenScatter(IGuestMemory memory, ReadOnlySpan<GuestRange> buffers, SpanReader read)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Length(buffers));
        try
        {
            int length = read(buffer.AsSpan(0, Length(buffers)));
            int done = 0;
            foreach (var r in buffers)
            {
                if (done >= length) break;
                int n = Math.Min(r.Length, length - done);
                memory.Write(r.Address, buffer.AsSpan(done, n));
                done += n;
            }
            return length;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>A read of one packet into a span; returns its length.</summary>
    public delegate int SpanReader(Span<byte> buffer);

    /// <summary>A write of one packet from a span.</summary>
    public delegate void SpanWriter(ReadOnlySpan<byte> packet);
}
