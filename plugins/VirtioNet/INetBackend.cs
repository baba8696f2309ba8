namespace PluginVmm.Plugins.VirtioNet;

/// <summary>
/// Where guest frames go and host frames come from. Frames are whole virtio-net packets: the 12-byte
/// virtio_net_hdr_v1 followed by the Ethernet frame.
/// </summary>
public interface INetBackend : IDisposable
{
    /// <summary>Sends one packet from the guest.</summary>
    void Write(ReadOnlySpan<byte> packet);

    /// <summary>Waits up to <paramref name="timeoutMs"/> for a packet to read; true when one is there.</summary>
    bool WaitReadable(int timeoutMs);

    /// <summary>Reads one packet (header + frame) into <paramref name="buffer"/>; returns its length (0: none).</summary>
    int Read(Span<byte> buffer);

    /// <summary>Tells the backend which offloads the guest accepts on receive (TUN_F_* bits).</summary>
    void SetOffload(uint tunFlags);
}
