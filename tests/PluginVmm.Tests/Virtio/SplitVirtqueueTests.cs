using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Testing;
using PluginVmm.Sdk.Virtio;
using Xunit;

namespace PluginVmm.Tests.Virtio;

/// <summary>The device side of the split ring against well-formed and hostile driver rings.</summary>
public sealed class SplitVirtqueueTests
{
    private const ushort Size = 8;
    private const ulong Data = 0x8000;
    private readonly InMemoryGuestMemory _memory = new(0x10000);
    private readonly GuestVirtqueue _guest;
    private int _interrupts;

    public SplitVirtqueueTests() => _guest = new GuestVirtqueue(_memory, Size, 0x1000);

    private SplitVirtqueue Device(ulong features = VirtioFeatures.Transport) =>
        new(0, _memory, Size, _guest.Desc, _guest.Avail, _guest.Used, features, () => _interrupts++);

    private DescriptorChain PopOne(SplitVirtqueue q)
    {
        Assert.True(q.TryPop(out var chain));
        return chain;
    }

    [Fact]
    public void Direct_chain_splits_readable_and_writable_buffers()
    {
        var q = Device();
        Assert.False(q.TryPop(out _));
        ushort head = _guest.Submit(new(Data, 16, false), new(Data + 16, 32, false), new(Data + 64, 100, true), new(Data + 200, 1, true));
        var chain = PopOne(q);
        Assert.Equal(head, chain.Head);
        Assert.Null(chain.Error);
        Assert.Equal([new VirtqBuffer(Data, 16), new VirtqBuffer(Data + 16, 32)], chain.Readable);
        Assert.Equal([new VirtqBuffer(Data + 64, 100), new VirtqBuffer(Data + 200, 1)], chain.Writable);
        Assert.Equal(48UL, chain.ReadableLength);
        Assert.Equal(101UL, chain.WritableLength);
        Assert.False(q.TryPop(out _));
    }

    [Fact]
    public void Chain_read_and_write_cross_buffer_boundaries()
    {
        var q = Device();
        _memory.Write(Data, [1, 2, 3]);
        _memory.Write(Data + 100, [4, 5]);
        _guest.Submit(new(Data, 3, false), new(Data + 100, 2, false), new(Data + 0x200, 2, true), new(Data + 0x300, 4, true));
        var chain = PopOne(q);
        var read = new byte[5];
        Assert.Equal(5, chain.Read(_memory, 0, read));
        Assert.Equal([1, 2, 3, 4, 5], read);
        Assert.Equal(2, chain.Read(_memory, 3, new byte[10]));
        Assert.Equal(6, chain.Write(_memory, 0, new byte[] { 9, 8, 7, 6, 5, 4, 3 }));
        Assert.Equal([9, 8], _memory.Bytes[0x8200..0x8202]);
        Assert.Equal([7, 6, 5, 4], _memory.Bytes[0x8300..0x8304]);
    }

    [Fact]
    public void Indirect_chain_is_followed()
    {
        var q = Device();
        _guest.Publish(_guest.AddIndirectChain(0x4000, new(Data, 16, false), new(Data + 16, 512, true), new(Data + 600, 1, true)));
        var chain = PopOne(q);
        Assert.Null(chain.Error);
        Assert.Single(chain.Readable);
        Assert.Equal(513UL, chain.WritableLength);
    }

    [Fact]
    public void Used_ring_gets_head_and_length_and_interrupt_follows_no_interrupt_flag()
    {
        var q = Device(VirtioFeatures.Version1);
        ushort head = _guest.Submit(new GuestBuffer(Data, 1, true));
        q.Complete(PopOne(q), 1);
        Assert.Equal((head, 1u), _guest.WaitUsed(TimeSpan.FromSeconds(1)));
        Assert.Equal(1, _interrupts);
        _guest.SetAvailFlags(1);   // VIRTQ_AVAIL_F_NO_INTERRUPT
        _guest.Submit(new GuestBuffer(Data, 1, true));
        q.Complete(PopOne(q), 1);
        Assert.Equal(1, _interrupts);
        Assert.Equal(2, q.UsedIndex);
    }

    [Fact]
    public void Event_idx_suppresses_interrupts_until_used_event_is_passed_and_sets_avail_event()
    {
        var q = Device();
        _guest.SetUsedEvent(2);
        for (int i = 0; i < 3; i++) _guest.Submit(new GuestBuffer(Data, 1, true));
        q.Complete(PopOne(q), 0);   // first check always signals
        Assert.Equal(1, _interrupts);
        q.Complete(PopOne(q), 0);   // used idx 2: the driver asked for an interrupt after entry 2 is used, not yet
        Assert.Equal(1, _interrupts);
        q.Complete(PopOne(q), 0);   // used idx 3 passes used_event 2
        Assert.Equal(2, _interrupts);
        // While the device drains the ring it does not ask for notifications; the empty ring asks for the next one.
        Assert.Equal(0, _guest.AvailEvent);
        Assert.False(q.TryPop(out _));
        Assert.Equal(3, _guest.AvailEvent);
    }

    [Fact]
    public void Event_idx_driver_adding_while_the_device_drains_needs_no_notification_and_is_not_lost()
    {
        var q = Device();
        _guest.Submit(new GuestBuffer(Data, 1, true));
        Assert.True(q.TryPop(out _));
        // The driver adds two more while the device works on the first: avail_event (0) is behind the new
        // entries, so a driver following vring_need_event would not notify; the device finds them anyway.
        _guest.Submit(new GuestBuffer(Data, 1, true));
        _guest.Submit(new GuestBuffer(Data, 1, true));
        Assert.Equal(0, _guest.AvailEvent);
        Assert.True(q.TryPop(out _));
        Assert.True(q.TryPop(out _));
        Assert.False(q.TryPop(out _));
        Assert.Equal(3, _guest.AvailEvent);   // now the next addition (entry 3) must be notified
    }

    [Fact]
    public void Notification_suppression_without_event_idx_uses_used_flags()
    {
        var q = Device(VirtioFeatures.Version1);
        q.SetNotification(false);
        Assert.Equal(1, _guest.UsedFlags);
        q.SetNotification(true);
        Assert.Equal(0, _guest.UsedFlags);
    }

    [Fact]
    public void Descriptor_loop_is_refused()
    {
        var q = Device();
        _guest.WriteDescriptor(0, Data, 1, GuestVirtqueue.Next, 1);
        _guest.WriteDescriptor(1, Data, 1, GuestVirtqueue.Next, 0);
        _guest.Publish(0);
        Assert.Throws<VirtqueueException>(() => q.TryPop(out _));
    }

    [Fact]
    public void Self_loop_in_an_indirect_table_is_refused()
    {
        var q = Device();
        _guest.WriteDescriptor(0x4000, 0, Data, 1, GuestVirtqueue.Next, 1);
        _guest.WriteDescriptor(0x4000, 1, Data, 1, GuestVirtqueue.Next, 1);
        _guest.WriteDescriptor(0, 0x4000, 32, GuestVirtqueue.Indirect);
        _guest.Publish(0);
        Assert.Throws<VirtqueueException>(() => q.TryPop(out _));
    }

    [Fact]
    public void Next_index_outside_the_table_is_refused()
    {
        var q = Device();
        _guest.WriteDescriptor(0, Data, 1, GuestVirtqueue.Next, Size);
        _guest.Publish(0);
        Assert.Throws<VirtqueueException>(() => q.TryPop(out _));
    }

    [Fact]
    public void Head_index_outside_the_queue_is_refused()
    {
        var q = Device();
        _guest.Publish(Size);
        Assert.Throws<VirtqueueException>(() => q.TryPop(out _));
    }

    [Fact]
    public void Avail_index_jumping_more_than_the_queue_size_is_refused()
    {
        var q = Device();
        _guest.SetAvailIndex(Size + 1);
        Assert.Throws<VirtqueueException>(() => q.TryPop(out _));
        Assert.Throws<VirtqueueException>(() => q.HasAvailable);
    }

    [Theory]
    [InlineData(0x4004UL, 32u, "misaligned table")]
    [InlineData(0x4000UL, 24u, "length not a whole descriptor")]
    [InlineData(0x4000UL, 0u, "empty table")]
    [InlineData(0x4000UL, 16u * (Size + 1), "more entries than the queue")]
    [InlineData(0xFFF0UL, 32u, "table runs past the end of RAM")]
    [InlineData(0x2_0000UL, 16u, "table outside RAM")]
    public void Bad_indirect_table_is_refused(ulong table, uint length, string why)
    {
        var q = Device();
        _guest.WriteDescriptor(0, table, length, GuestVirtqueue.Indirect);
        _guest.Publish(0);
        var e = Assert.Throws<VirtqueueException>(() => q.TryPop(out _));
        Assert.False(string.IsNullOrEmpty(e.Message), why);
    }

    [Fact]
    public void Nested_indirect_is_refused()
    {
        var q = Device();
        _guest.WriteDescriptor(0x4000, 0, 0x5000, 16, GuestVirtqueue.Indirect, 0);
        _guest.WriteDescriptor(0, 0x4000, 16, GuestVirtqueue.Indirect);
        _guest.Publish(0);
        Assert.Throws<VirtqueueException>(() => q.TryPop(out _));
    }

    [Fact]
    public void Indirect_with_next_is_refused()
    {
        var q = Device();
        _guest.WriteDescriptor(0x4000, 0, Data, 16, 0, 0);
        _guest.WriteDescriptor(0, 0x4000, 16, GuestVirtqueue.Indirect | GuestVirtqueue.Next, 1);
        _guest.Publish(0);
        Assert.Throws<VirtqueueException>(() => q.TryPop(out _));
    }

    [Fact]
    public void Indirect_without_the_feature_is_refused()
    {
        var q = Device(VirtioFeatures.Version1);
        _guest.Publish(_guest.AddIndirectChain(0x4000, new GuestBuffer(Data, 16, false)));
        Assert.Throws<VirtqueueException>(() => q.TryPop(out _));
    }

    [Theory]
    [InlineData(0xFFF0UL, 0x20u)]               // runs past the end of RAM
    [InlineData(0x10000UL, 1u)]                 // just outside
    [InlineData(0xFFFF_FFFF_FFFF_FFF0UL, 0x20u)] // address + length overflows
    [InlineData(0UL, 0xFFFF_FFFFu)]             // longer than RAM
    public void Buffer_outside_guest_ram_fails_the_request_not_the_ring(ulong address, uint length)
    {
        var q = Device();
        _guest.Submit(new(Data, 16, false), new(address, length, true));
        var chain = PopOne(q);
        Assert.NotNull(chain.Error);
        _guest.Submit(new GuestBuffer(Data, 16, false));
        Assert.Null(PopOne(q).Error);     // the queue goes on
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Single_descriptor_chain_outside_guest_ram_fails_the_request(bool writable)
    {
        var q = Device();
        _guest.Submit(new GuestBuffer(0xFFF8, 0x10, writable));
        var chain = PopOne(q);
        Assert.NotNull(chain.Error);
        Assert.Equal(writable ? 0UL : 0x10UL, chain.ReadableLength);
        Assert.Equal(writable ? 0x10UL : 0UL, chain.WritableLength);
    }

    [Fact]
    public void Chains_of_an_avail_index_already_read_are_taken_even_if_the_driver_moves_it_back()
    {
        // The device reads the avail index once for the chains it publishes (not once per chain): a driver that moves
        // the index back afterwards (hostile; the spec forbids it) has published those chains already. Once they are
        // taken the index is read again, and an index behind the device breaks the ring.
        var q = Device();
        ushort first = _guest.Submit(new GuestBuffer(Data, 16, true));
        ushort second = _guest.Submit(new GuestBuffer(Data + 16, 16, true));
        Assert.Equal(first, PopOne(q).Head);
        _guest.SetAvailIndex(1);
        Assert.Equal(second, PopOne(q).Head);
        Assert.Throws<VirtqueueException>(() => q.TryPop(out _));
    }

    [Fact]
    public void The_avail_index_is_read_again_once_its_chains_are_taken()
    {
        var q = Device();
        ushort first = _guest.Submit(new GuestBuffer(Data, 16, true));
        Assert.Equal(first, PopOne(q).Head);
        ushort second = _guest.Submit(new GuestBuffer(Data + 16, 16, true));
        Assert.True(q.HasAvailable);
        Assert.Equal(second, PopOne(q).Head);
        Assert.False(q.HasAvailable);
        Assert.False(q.TryPop(out _));
    }

    [Fact]
    public void Readable_after_writable_fails_the_request()
    {
        var q = Device();
        _guest.Submit(new(Data, 16, true), new(Data + 16, 16, false));
        Assert.NotNull(PopOne(q).Error);
    }

    [Theory]
    [InlineData((ushort)6, 0x1000UL, 0x1100UL, 0x1200UL)]   // not a power of two
    [InlineData((ushort)8, 0x1008UL, 0x1100UL, 0x1200UL)]   // descriptor table misaligned
    [InlineData((ushort)8, 0x1000UL, 0x1101UL, 0x1200UL)]   // avail misaligned
    [InlineData((ushort)8, 0x1000UL, 0x1100UL, 0x1202UL)]   // used misaligned
    [InlineData((ushort)8, 0xFFC0UL, 0x1100UL, 0x1200UL)]   // table past the end of RAM
    [InlineData((ushort)8, 0x1000UL, 0x1100UL, 0xFFF0UL)]   // used ring past the end of RAM
    public void Bad_ring_placement_is_refused(ushort size, ulong desc, ulong avail, ulong used)
    {
        Assert.Throws<VirtqueueException>(() => new SplitVirtqueue(0, _memory, size, desc, avail, used, VirtioFeatures.Transport, () => { }));
    }

    [Fact]
    public void Garbage_rings_never_make_the_device_touch_memory_outside_ram()
    {
        var random = new Random(1234);
        for (int round = 0; round < 300; round++)
        {
            var memory = new InMemoryGuestMemory(0x4000);
            random.NextBytes(memory.Bytes);
            memory.WriteU16(0x1000 + 16 * 8 + 2, (ushort)random.Next(0, 12));   // avail idx: sometimes sane
            var q = new SplitVirtqueue(0, memory, 8, 0x1000, 0x1000 + 16 * 8, 0x1200, VirtioFeatures.Transport, () => { });
            try
            {
                while (q.TryPop(out var chain))
                {
                    if (chain.Error is null) chain.Write(memory, 0, new byte[64]);
                    q.Complete(chain, 0);
                }
            }
            catch (VirtqueueException)
            {
                // refused: fine
            }
            Assert.Equal(0, memory.Refused);
        }
    }
}
