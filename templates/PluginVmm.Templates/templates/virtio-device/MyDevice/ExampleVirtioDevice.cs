using PluginVmm.Sdk.Virtio;

namespace MyDevice;

/// <summary>
/// An example virtio device (type 4, the entropy-device number, with a fixed byte instead of entropy — replace it):
/// one request queue; every chain's device-writable buffers are filled and returned. The transport does discovery,
/// feature negotiation, MSI-X and notifications; a broken ring throws VirtqueueException, which the transport turns
/// into DEVICE_NEEDS_RESET. A chain with a bad buffer is completed with 0 bytes.
/// </summary>
internal sealed class ExampleVirtioDevice(byte fill) : IVirtioDevice
{
    public const ushort Type = 4;
    private VirtioActivation? _active;

    public ushort DeviceType => Type;
    public ulong DeviceFeatures => 0;
    public int QueueCount => 1;
    public ushort MaxQueueSize(int queue) => 256;
    public uint ConfigLength => 0;

    public void ReadConfig(uint offset, Span<byte> data) => data.Clear();

    public void WriteConfig(uint offset, ReadOnlySpan<byte> data)
    {
    }

    public void Activate(VirtioActivation activation) => _active = activation;

    public void QueueNotified(int queue)
    {
        if (_active?.Queues[queue] is not { } q) return;
        var memory = _active.Memory;
        while (q.TryPop(out var chain))
        {
            uint written = 0;
            if (chain.Error is null)
            {
                var bytes = new byte[(int)Math.Min(chain.WritableLength, 4096)];
                Array.Fill(bytes, fill);
                written = (uint)chain.Write(memory, 0, bytes);
            }
            q.Complete(chain, written);
        }
    }

    public void Reset() => _active = null;

    public void Dispose()
    {
    }
}
