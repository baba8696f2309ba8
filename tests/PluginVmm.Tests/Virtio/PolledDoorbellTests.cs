using Microsoft.Extensions.Logging.Abstractions;
using PluginVmm.Plugins.VirtioNet;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Resources;
using PluginVmm.Sdk.Testing;
using PluginVmm.Sdk.Virtio;
using Xunit;

namespace PluginVmm.Tests.Virtio;

/// <summary>
/// VirtioActivation.TakeDoorbell with real eventfds (what KVM signals): a device that polls a queue's doorbell itself,
/// the transport leaving that queue to it, and virtio-net's one I/O thread serving both queues through them.
/// </summary>
public sealed class PolledDoorbellTests : IDisposable
{
    private readonly InMemoryGuestMemory _memory = new(0x10_0000);
    private readonly EventFdContext _context;

    public PolledDoorbellTests() => _context = new EventFdContext(_memory, "dev0");

    public void Dispose() => _context.Dispose();

    private static ulong Doorbell(int queue) => VirtioPciLayout.NotifyOffset + 4UL * (uint)queue;

    // Takes queue 0's doorbell while it activates, and tries what the contract refuses; echoes like EchoDevice.
    private sealed class TakingDevice : IVirtioDevice
    {
        private readonly EchoDevice _echo = new();
        public IIoEvent? Taken, TakenTwice, OutOfRange;
        public int[] Notified = new int[2];

        public VirtioActivation? Active => _echo.Active;
        public ushort DeviceType => _echo.DeviceType;
        public ulong DeviceFeatures => _echo.DeviceFeatures;
        public int QueueCount => _echo.QueueCount;
        public ushort MaxQueueSize(int queue) => _echo.MaxQueueSize(queue);
        public uint ConfigLength => _echo.ConfigLength;
        public void ReadConfig(uint offset, Span<byte> data) => _echo.ReadConfig(offset, data);
        public void WriteConfig(uint offset, ReadOnlySpan<byte> data) => _echo.WriteConfig(offset, data);

        public void Activate(VirtioActivation activation)
        {
            _echo.Activate(activation);
            Taken = activation.TakeDoorbell(0);
            TakenTwice = activation.TakeDoorbell(0);
            OutOfRange = activation.TakeDoorbell(7);
        }

        public void QueueNotified(int queue)
        {
            Interlocked.Increment(ref Notified[queue]);
            _echo.QueueNotified(queue);
        }

        public void Reset() => _echo.Reset();
        public void Dispose() => _echo.Dispose();
    }

    [Fact]
    public void A_doorbell_taken_while_activating_is_the_devices_to_poll_and_the_other_queue_keeps_its_thread()
    {
        var device = new TakingDevice();
        using var transport = new VirtioPciTransport(device, _context, 0xFF, 0x00);
        var driver = new VirtioPciDriver(transport, _memory);
        Assert.True(driver.Negotiate(VirtioFeatures.Transport));
        driver.EnableMsix();
        driver.SetupQueue(0, 16, 0x1000, 1);
        var q1 = driver.SetupQueue(1, 16, 0x4000, 2).Queue;
        driver.DriverOk();

        Assert.NotNull(device.Taken);
        Assert.Equal(_context.IoEvents[Doorbell(0)].Fd, device.Taken.Fd);   // the eventfd KVM signals, pollable
        Assert.Null(device.TakenTwice);                                     // once per queue
        Assert.Null(device.OutOfRange);
        Assert.Null(device.Active!.TakeDoorbell(1));                        // only during Activate

        _context.Signal(Doorbell(0));
        // Queue 1's doorbell is still served by the transport's thread; once its echo is back, a thread serving queue 0
        // would have had as long to take that doorbell.
        _memory.Write(0x8000, "ping"u8);
        ushort head = q1.Submit(new(0x8000, 4, false), new(0x9000, 4, true));
        _context.Signal(Doorbell(1));
        Assert.Equal((head, 4u), q1.WaitUsed(TimeSpan.FromSeconds(10)));
        Assert.Equal("ping"u8.ToArray(), _memory.Bytes[0x9000..0x9004]);
        Assert.True(device.Taken.TryConsume(out ulong count));              // still there for the device
        Assert.Equal(1UL, count);
        Assert.Equal(0, Volatile.Read(ref device.Notified[0]));

        // A doorbell that arrives as an MMIO exit (a BAR being moved) still reaches the device as QueueNotified.
        driver.Kick(0, forceMmio: true);
        Assert.Equal(1, Volatile.Read(ref device.Notified[0]));
    }

    [Fact]
    public void Virtio_net_serves_both_queues_from_the_eventfds_it_polls()
    {
        var backend = new FakeNetBackend();
        var net = new VirtioNetDevice(backend, [0x52, 0x54, 0, 0, 0, 1], NullLogger.Instance);
        using var transport = new VirtioPciTransport(net, _context, 0x02, 0x00);
        var driver = new VirtioPciDriver(transport, _memory);
        Assert.True(driver.Negotiate(ulong.MaxValue & ~VirtioNetDevice.FeatureMrgRxbuf));
        driver.EnableMsix();
        var rx = driver.SetupQueue(0, 16, 0x1000, 1).Queue;
        var tx = driver.SetupQueue(1, 16, 0x4000, 2).Queue;
        driver.DriverOk();

        // TX: the frame leaves through the TX eventfd alone (no QueueNotified, no MMIO exit).
        var frame = new byte[12 + 60];
        Random.Shared.NextBytes(frame.AsSpan(12));
        _memory.Write(0x8000, frame);
        ushort head = tx.Submit(new GuestBuffer(0x8000, (uint)frame.Length, false));
        _context.Signal(Doorbell(1));
        Assert.Equal((head, 0u), tx.WaitUsed(TimeSpan.FromSeconds(10)));
        Assert.True(backend.Sent.TryDequeue(out var sent));
        Assert.Equal(frame, sent);

        // RX: a packet waits for a buffer; the buffer's doorbell through the RX eventfd lets it in.
        var packet = new byte[12 + 80];
        Random.Shared.NextBytes(packet.AsSpan(12));
        packet.AsSpan(0, 12).Clear();
        backend.ToGuest.Add(packet);
        ushort rxHead = rx.Submit(new GuestBuffer(0x20000, 2048, true));
        _context.Signal(Doorbell(0));
        Assert.Equal((rxHead, (uint)packet.Length), rx.WaitUsed(TimeSpan.FromSeconds(10)));
        var received = _memory.Bytes[0x20000..(0x20000 + packet.Length)];
        Assert.Equal(1, received[10]);                                      // num_buffers
        Assert.Equal(packet.AsSpan(12).ToArray(), received[12..]);
    }
}
