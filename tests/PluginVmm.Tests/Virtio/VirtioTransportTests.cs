using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Testing;
using PluginVmm.Sdk.Virtio;
using Xunit;

namespace PluginVmm.Tests.Virtio;

/// <summary>A minimal device for transport tests: echoes each chain's readable bytes into its writable part.</summary>
internal sealed class EchoDevice(int queues = 2, ushort maxSize = 16) : IVirtioDevice
{
    public const ulong FeatureFoo = 1UL << 3;
    public VirtioActivation? Active;
    public int Resets;
    public int Notifications;
    public readonly byte[] Config = [1, 2, 3, 4, 5, 6, 7, 8];
    public Exception? ThrowOnNotify;

    public ushort DeviceType => 0x1A;
    public ulong DeviceFeatures => FeatureFoo;
    public int QueueCount => queues;
    public ushort MaxQueueSize(int queue) => maxSize;
    public uint ConfigLength => (uint)Config.Length;
    public void ReadConfig(uint offset, Span<byte> data) => Config.AsSpan((int)offset, data.Length).CopyTo(data);
    public void WriteConfig(uint offset, ReadOnlySpan<byte> data) => data.CopyTo(Config.AsSpan((int)offset));
    public void Activate(VirtioActivation activation) => Active = activation;

    public void QueueNotified(int queue)
    {
        Interlocked.Increment(ref Notifications);
        if (ThrowOnNotify is { } e) throw e;
        var q = Active!.Queues[queue]!;
        while (q.TryPop(out var chain))
        {
            var bytes = new byte[chain.ReadableLength];
            chain.Read(Active.Memory, 0, bytes);
            q.AddUsed(chain.Head, (uint)chain.Write(Active.Memory, 0, bytes));
        }
        q.NotifyIfNeeded();
    }

    public void Reset()
    {
        Resets++;
        Active = null;
    }

    public void Dispose()
    {
    }
}

/// <summary>The modern virtio-pci transport driven the way Linux's virtio_pci_modern drives it, and hostile drivers.</summary>
public sealed class VirtioTransportTests : IDisposable
{
    private readonly InMemoryGuestMemory _memory = new(0x10_0000);
    private readonly TestDeviceContext _context;
    private readonly EchoDevice _device = new();
    private readonly VirtioPciTransport _transport;
    private readonly VirtioPciDriver _driver;

    public VirtioTransportTests()
    {
        _context = new TestDeviceContext(_memory);
        _transport = new VirtioPciTransport(_device, _context, 0xFF, 0x00);
        _driver = new VirtioPciDriver(_transport, _memory, _context.FakeResources);
    }

    public void Dispose() => _transport.Dispose();

    private RecordingMsiVectorGroup Vectors => _context.RecordingInterrupts.Groups.Single();

    private GuestVirtqueue BringUp(ulong features = VirtioFeatures.Transport)
    {
        Assert.True(_driver.Negotiate(features));
        _driver.EnableMsix();
        Assert.Equal(0, _driver.SetConfigVector(0));
        var (q0, v0) = _driver.SetupQueue(0, 16, 0x1000, 1);
        Assert.Equal(1, v0);
        _driver.DriverOk();
        return q0;
    }

    [Fact]
    public void Config_space_has_ids_class_bar_and_capabilities_linux_looks_for()
    {
        var pci = _driver.Pci;
        Assert.Equal(0x1AF4u | (0x1040u + 0x1A) << 16, pci.Read32(0));
        Assert.Equal(1, pci.Read8(8));                                     // revision 1: modern
        Assert.Equal(VirtioPciLayout.BarSize, _driver.Bar0Size);
        Assert.Equal(4u, pci.Read32(0x10) & 7);                            // 64-bit memory BAR
        Assert.Equal(0u, _driver.CommonOffset);
        Assert.Equal(VirtioPciLayout.IsrOffset, _driver.IsrOffset);
        Assert.Equal(VirtioPciLayout.DeviceConfigOffset, _driver.DeviceOffset);
        Assert.Equal(8u, _driver.DeviceLength);
        Assert.Equal(VirtioPciLayout.NotifyOffset, _driver.NotifyOffset);
        Assert.Equal(4u, _driver.NotifyMultiplier);
        Assert.Equal(3, _driver.MsixVectors);                              // 2 queues + config
        Assert.Equal(2, _driver.NumQueues);
        Assert.Equal(2, _context.FakeResources.IoEvents.Count);
        Assert.Equal([0x6000UL, 0x6004UL], _context.FakeResources.IoEvents.Select(e => e.Offset));
    }

    [Fact]
    public void Offered_features_include_version_1_event_idx_and_indirect()
    {
        ulong f = _driver.DeviceFeatures();
        Assert.Equal(EchoDevice.FeatureFoo | VirtioFeatures.Transport, f);
    }

    [Fact]
    public void Features_ok_is_refused_without_version_1_or_with_unoffered_bits()
    {
        Assert.False(_driver.Negotiate(EchoDevice.FeatureFoo, force: true));
        Assert.False(_driver.Negotiate(VirtioFeatures.Version1 | 1UL << 40, force: true));
        Assert.True(_driver.Negotiate(VirtioFeatures.Version1 | EchoDevice.FeatureFoo));
        // After FEATURES_OK the driver features are frozen.
        _driver.WriteDriverFeatures(VirtioFeatures.Version1);
        _driver.WriteCommon(0x08, 0, 4);
        Assert.Equal(EchoDevice.FeatureFoo, _driver.ReadCommon(0x0C, 4));
    }

    [Fact]
    public void Driver_ok_without_features_ok_does_not_activate()
    {
        _driver.Status = VirtioStatus.Acknowledge | VirtioStatus.Driver;
        _driver.DriverOk();
        Assert.Null(_device.Active);
        Assert.Equal(0, _driver.Status & VirtioStatus.DriverOk);
    }

    [Fact]
    public void Queue_registers_read_back_and_vector_outside_the_table_reads_no_vector()
    {
        _driver.Negotiate(VirtioFeatures.Transport);
        Assert.Equal(16, _driver.QueueMaxSize(1));
        var (q, vector) = _driver.SetupQueue(1, 8, 0x2000, 7);
        Assert.Equal(VirtioPciTransport.NoVector, vector);
        Assert.Equal(VirtioPciTransport.NoVector, _driver.SetConfigVector(3));
        Assert.Equal(8UL, _driver.ReadCommon(0x18, 2));
        Assert.Equal(q.Desc, _driver.ReadCommon(0x20, 4) | _driver.ReadCommon(0x24, 4) << 32);
        Assert.Equal(q.Avail, _driver.ReadCommon(0x28, 8));
        Assert.Equal(q.Used, _driver.ReadCommon(0x30, 8));
        Assert.Equal(1UL, _driver.ReadCommon(0x1C, 2));
        Assert.Equal(1UL, _driver.ReadCommon(0x1E, 2));               // queue_notify_off
        _driver.WriteCommon(0x18, 12, 2);                              // not a power of two: ignored
        _driver.WriteCommon(0x18, 32, 2);                              // above max: ignored
        Assert.Equal(8UL, _driver.ReadCommon(0x18, 2));
        _driver.WriteCommon(0x16, 5, 2);                               // no such queue
        Assert.Equal(0UL, _driver.ReadCommon(0x18, 2));
        _driver.WriteCommon(0x18, 4, 2);
        Assert.Equal(0UL, _driver.ReadCommon(0x18, 2));
    }

    [Fact]
    public void Echo_round_trip_through_the_ioeventfd_thread_raises_the_queue_vector()
    {
        var q = BringUp();
        _memory.Write(0x8000, "hello"u8);
        ushort head = q.Submit(new(0x8000, 5, false), new(0x9000, 16, true));
        int before = Vectors.DeliveredCount(1);
        _driver.Kick(0);
        Assert.Equal((head, 5u), q.WaitUsed(TimeSpan.FromSeconds(10)));
        Assert.Equal("hello"u8.ToArray(), _memory.Bytes[0x9000..0x9005]);
        Assert.True(Vectors.WaitForDelivery(1, before, TimeSpan.FromSeconds(10)));
        Assert.Equal(1, _driver.ReadIsr() & 1);
        Assert.Equal(0, _driver.ReadIsr());                            // read-to-clear
    }

    [Fact]
    public void Notify_arriving_as_an_mmio_exit_is_served_too()
    {
        var q = BringUp();
        ushort head = q.Submit(new(0x8000, 4, false), new(0x9000, 4, true));
        _driver.Kick(0, forceMmio: true);
        Assert.Equal((head, 4u), q.WaitUsed(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void Without_ioeventfds_the_device_still_works_over_mmio_exits()
    {
        var context = new TestDeviceContext(_memory);
        context.FakeResources.SupportsIoEvents = false;
        using var transport = new VirtioPciTransport(new EchoDevice(), context, 0xFF, 0);
        var driver = new VirtioPciDriver(transport, _memory, context.FakeResources);
        Assert.True(driver.Negotiate(VirtioFeatures.Transport));
        var (q, _) = driver.SetupQueue(0, 16, 0x1000, 0);
        driver.DriverOk();
        ushort head = q.Submit(new(0x8000, 4, false), new(0x9000, 4, true));
        driver.Kick(0);
        Assert.Equal((head, 4u), q.WaitUsed(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void Masked_vector_interrupt_is_pending_until_unmasked()
    {
        var q = BringUp();
        _driver.Pci.BarWrite(0, VirtioPciLayout.MsixTableOffset + 16 + 12, 1, 4);   // mask vector 1
        q.Submit(new(0x8000, 4, false), new(0x9000, 4, true));
        _driver.Kick(0, forceMmio: true);
        Assert.Equal(0, Vectors.DeliveredCount(1));
        Assert.Equal(1UL << 1, _driver.Pci.BarRead(0, VirtioPciLayout.MsixPbaOffset, 8));
        _driver.Pci.BarWrite(0, VirtioPciLayout.MsixTableOffset + 16 + 12, 0, 4);
        Assert.Equal(1, Vectors.DeliveredCount(1));
        Assert.Equal(0UL, _driver.Pci.BarRead(0, VirtioPciLayout.MsixPbaOffset, 8));
    }

    [Fact]
    public void Broken_ring_sets_device_needs_reset_raises_config_vector_and_stops_the_queue()
    {
        var q = BringUp();
        q.SetAvailIndex(100);
        int before = Vectors.DeliveredCount(0);
        _driver.Kick(0, forceMmio: true);
        Assert.NotEqual(0, _driver.Status & VirtioStatus.DeviceNeedsReset);
        Assert.Equal(before + 1, Vectors.DeliveredCount(0));
        int notifications = _device.Notifications;
        _driver.Kick(0, forceMmio: true);
        Assert.Equal(notifications, _device.Notifications);
        // Reset clears it and the device works again.
        var q2 = BringUp();
        Assert.Equal(0, _driver.Status & VirtioStatus.DeviceNeedsReset);
        ushort head = q2.Submit(new(0x8000, 4, false), new(0x9000, 4, true));
        _driver.Kick(0, forceMmio: true);
        Assert.Equal((head, 4u), q2.WaitUsed(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void Device_exception_fences_instead_of_escaping()
    {
        BringUp();
        _device.ThrowOnNotify = new InvalidOperationException("boom");
        _driver.Kick(0, forceMmio: true);
        Assert.NotEqual(0, _driver.Status & VirtioStatus.DeviceNeedsReset);
    }

    [Fact]
    public void Rings_outside_ram_at_driver_ok_set_needs_reset()
    {
        Assert.True(_driver.Negotiate(VirtioFeatures.Transport));
        _driver.SetupQueue(0, 16, 0x1000, 0);
        _driver.WriteCommon(0x30, 0xFFFF_FFF0, 4);    // used ring far outside RAM
        _driver.DriverOk();
        Assert.NotEqual(0, _driver.Status & VirtioStatus.DeviceNeedsReset);
        Assert.Null(_device.Active);
    }

    [Fact]
    public void Reset_returns_every_register_to_its_initial_value_and_resets_the_device()
    {
        BringUp();
        _driver.Status = 0;
        Assert.Equal(0, _driver.Status);
        Assert.Equal(1, _device.Resets);
        Assert.Equal(VirtioPciTransport.NoVector, (ushort)_driver.ReadCommon(0x10, 2));
        Assert.Equal(16, _driver.QueueMaxSize(0));
        Assert.Equal(VirtioPciTransport.NoVector, (ushort)_driver.ReadCommon(0x1A, 2));
        Assert.Equal(0UL, _driver.ReadCommon(0x1C, 2));
        Assert.Equal(0UL, _driver.ReadCommon(0x20, 8));
    }

    [Fact]
    public void Queue_registers_are_frozen_after_driver_ok()
    {
        BringUp();
        _driver.WriteCommon(0x16, 0, 2);
        _driver.WriteCommon(0x20, 0x5000, 8);
        Assert.Equal(0x1000UL, _driver.ReadCommon(0x20, 8));
    }

    [Fact]
    public void Device_config_reads_and_writes_reach_the_device()
    {
        Assert.Equal(0x0807060504030201UL, _driver.ReadDeviceConfig(0, 8));
        Assert.Equal(0x0403UL, _driver.ReadDeviceConfig(2, 2));
        _driver.Pci.BarWrite(0, VirtioPciLayout.DeviceConfigOffset + 4, 0xAA, 1);
        Assert.Equal(0xAA, _device.Config[4]);
        Assert.Equal(0UL, _driver.ReadDeviceConfig(6, 4));   // straddles the end: ignored, reads zero
    }

    [Theory]
    [InlineData(0x00UL, 3)]          // odd size
    [InlineData(0x12UL, 1)]          // byte into a 16-bit field (num_queues is read-only anyway)
    [InlineData(0x16UL, 4)]          // straddles queue_select and queue_size
    [InlineData(0x36UL, 4)]          // runs past the common config
    [InlineData(0x1FFFUL, 2)]        // straddles into ISR
    [InlineData(0x7_FFFCUL, 8)]      // past the BAR
    [InlineData(0x100_0000UL, 4)]    // far outside
    public void Malformed_bar_accesses_are_ignored(ulong offset, int size)
    {
        _driver.Negotiate(VirtioFeatures.Transport);
        byte status = _driver.Status;
        var data = new byte[size];
        Array.Fill(data, (byte)0xFF);
        _transport.WriteBar(0, offset, data);
        _transport.ReadBar(0, offset, data);
        _transport.WriteBar(3, 0, new byte[4]);
        Assert.Equal(status, _driver.Status);
        Assert.Equal(0, _driver.Status & VirtioStatus.DeviceNeedsReset);
        Assert.Equal(2, _driver.NumQueues);
    }

    [Fact]
    public void Msix_control_written_through_config_space_reaches_the_table()
    {
        _driver.EnableMsix();
        Assert.True(_transport.Msix.Enabled);
        Assert.False(Vectors.Route(0)!.Value.Masked);
        _driver.Pci.SetMsix(enable: true, functionMask: true);
        Assert.True(_transport.Msix.FunctionMasked);
        Assert.True(Vectors.Route(0)!.Value.Masked);
        _driver.Pci.SetMsix(enable: false);
        Assert.False(_transport.Msix.Enabled);
    }

    [Fact]
    public void Dispose_stops_threads_and_releases_ioeventfds_and_vectors()
    {
        BringUp();
        _transport.Dispose();
        Assert.All(_context.FakeResources.IoEvents, e => Assert.True(e.Disposed));
        Assert.True(Vectors.Disposed);
    }
}
