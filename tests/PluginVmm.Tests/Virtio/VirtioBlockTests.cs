using System.Buffers.Binary;
using PluginVmm.Core.Memory;
using PluginVmm.Plugins.VirtioBlock;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Testing;
using PluginVmm.Sdk.Virtio;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace PluginVmm.Tests.Virtio;

/// <summary>
/// virtio-block against a real temp file, driven through the PCI transport like Linux's virtio_blk, over the test
/// kit's guest memory (file I/O span by span); <see cref="VirtioBlockOnVmmGuestMemoryTests"/> runs every test again
/// over the VMM's own guest RAM, whose requests take the preadv/pwritev path.
/// </summary>
public class VirtioBlockTests : IDisposable
{
    private const uint In = 0, Out = 1, Flush = 4, GetId = 8, Discard = 11, WriteZeroes = 13;
    private const byte Ok = 0, IoErr = 1, Unsupp = 2;
    private const ulong Header = 0x10000, DataA = 0x20000, DataB = 0x30000, Status = 0x40000;
    private const int DiskBytes = 1 << 20;

    private readonly string _path = Path.GetTempFileName();
    private readonly byte[] _original = new byte[DiskBytes];
    private readonly IGuestMemory _memory;
    private VirtioPciTransport? _transport;
    private VirtioPciDriver _driver = null!;
    private GuestVirtqueue _queue = null!;

    public VirtioBlockTests() : this(new InMemoryGuestMemory(0x100000))
    {
    }

    protected VirtioBlockTests(IGuestMemory memory)
    {
        _memory = memory;
        new Random(42).NextBytes(_original);
        File.WriteAllBytes(_path, _original);
    }

    public void Dispose()
    {
        _transport?.Dispose();
        (_memory as IDisposable)?.Dispose();
        File.Delete(_path);
        GC.SuppressFinalize(this);
    }

    private byte[] Bytes(ulong address, int length) => _memory.GetSpan(address, length).ToArray();

    private VirtioBlockDevice Start(bool readOnly = false)
    {
        var context = new TestDeviceContext(_memory) { Name = "vblk0" };
        var device = new VirtioBlockDevice(_path, readOnly, 4, "vblk0-serial", NullLogger.Instance);
        _transport = new VirtioPciTransport(device, context, 0x01, 0x80);
        _driver = new VirtioPciDriver(_transport, _memory, context.FakeResources);
        Assert.True(_driver.Negotiate(ulong.MaxValue));
        _driver.EnableMsix();
        _queue = _driver.SetupQueue(0, 16, 0x1000, 1).Queue;
        _driver.DriverOk();
        Assert.Equal(0, _driver.Status & VirtioStatus.DeviceNeedsReset);
        return device;
    }

    private void WriteHeader(uint type, ulong sector)
    {
        _memory.WriteU32(Header, type);
        _memory.WriteU32(Header + 4, 0);
        _memory.WriteU64(Header + 8, sector);
    }

    private (byte Status, uint Used) Run(GuestVirtqueue queue, int queueIndex, params GuestBuffer[] buffers)
    {
        _memory.Write(Status, [0xEE]);
        ushort head = queue.Submit(buffers);
        _driver.Kick(queueIndex, forceMmio: true);
        var (usedHead, length) = queue.WaitUsed(TimeSpan.FromSeconds(10));
        Assert.Equal(head, usedHead);
        return (Bytes(Status, 1)[0], length);
    }

    private (byte Status, uint Used) Request(uint type, ulong sector, params GuestBuffer[] data)
    {
        WriteHeader(type, sector);
        return Run(_queue, 0, [new(Header, 16, false), .. data, new(Status, 1, true)]);
    }

    private static GuestBuffer B(ulong address, uint length, bool writable) => new(address, length, writable);

    private byte[] Disk() => File.ReadAllBytes(_path);

    [Fact]
    public void Config_space_reports_capacity_block_size_seg_max_queues_and_limits()
    {
        Start();
        Assert.Equal((ulong)DiskBytes / 512, _driver.ReadDeviceConfig(0, 8));
        Assert.Equal(254UL, _driver.ReadDeviceConfig(12, 4));           // seg_max
        Assert.Equal(512UL, _driver.ReadDeviceConfig(20, 4));           // blk_size
        Assert.Equal(4UL, _driver.ReadDeviceConfig(34, 2));             // num_queues
        Assert.NotEqual(0UL, _driver.ReadDeviceConfig(36, 4));          // max_discard_sectors
        Assert.NotEqual(0UL, _driver.ReadDeviceConfig(48, 4));          // max_write_zeroes_sectors
        ulong f = _driver.DeviceFeatures();
        foreach (int bit in new[] { 2, 6, 9, 12, 13, 14, 28, 29, 32 }) Assert.True((f >> bit & 1) != 0, $"feature bit {bit}");
        Assert.Equal(0UL, f >> 5 & 1);                                  // not read-only
        Assert.Equal(4, _driver.NumQueues);
    }

    [Fact]
    public void Read_copies_sectors_into_scattered_buffers()
    {
        Start();
        var (status, used) = Request(In, 3, B(DataA, 512, true), B(DataB, 1024, true));
        Assert.Equal(Ok, status);
        Assert.Equal(1537u, used);
        Assert.Equal(_original[(3 * 512)..(4 * 512)], Bytes(DataA, 512));
        Assert.Equal(_original[(4 * 512)..(6 * 512)], Bytes(DataB, 1024));
    }

    [Fact]
    public void Read_into_many_buffers_fills_each_and_zeroes_what_a_shrunk_file_no_longer_has()
    {
        Start();
        // Eight one-sector buffers in one request: one vectored read over all of them.
        var data = Enumerable.Range(0, 8).Select(i => B(DataA + (ulong)i * 1024, 512, true)).ToArray();
        foreach (var b in data) _memory.GetSpan(b.Address, 512).Fill(0xAA);
        Assert.Equal((Ok, 8 * 512 + 1u), Request(In, 100, data));
        for (int i = 0; i < 8; i++) Assert.Equal(_original[((100 + i) * 512)..((101 + i) * 512)], Bytes(DataA + (ulong)i * 1024, 512));
        // The file shrinks under the device by five sectors: the last five buffers read zeros, not old guest bytes.
        using (var f = new FileStream(_path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite)) f.SetLength(DiskBytes - 5 * 512);
        foreach (var b in data) _memory.GetSpan(b.Address, 512).Fill(0xAA);
        Assert.Equal((Ok, 8 * 512 + 1u), Request(In, DiskBytes / 512 - 8, data));
        for (int i = 0; i < 3; i++) Assert.Equal(_original[(DiskBytes - (8 - i) * 512)..(DiskBytes - (7 - i) * 512)], Bytes(DataA + (ulong)i * 1024, 512));
        for (int i = 3; i < 8; i++) Assert.Equal(new byte[512], Bytes(DataA + (ulong)i * 1024, 512));
    }

    [Fact]
    public void Write_reaches_the_file_and_flush_succeeds()
    {
        Start();
        new Random(7).NextBytes(_memory.GetSpan(DataA, 1024));
        var (status, used) = Request(Out, 10, B(DataA, 1024, false));
        Assert.Equal((Ok, 1u), (status, used));
        Assert.Equal(Ok, Request(Flush, 0).Status);
        var disk = Disk();
        Assert.Equal(Bytes(DataA, 1024), disk[(10 * 512)..(12 * 512)]);
        Assert.Equal(_original[..(10 * 512)], disk[..(10 * 512)]);
    }

    [Fact]
    public void Get_id_returns_the_serial()
    {
        Start();
        var (status, used) = Request(GetId, 0, B(DataA, 20, true));
        Assert.Equal((Ok, 21u), (status, used));
        Assert.Equal("vblk0-serial"u8.ToArray(), Bytes(DataA, 12));
        Assert.Equal(0, Bytes(DataA + 12, 1)[0]);
    }

    private void Segment(ulong at, ulong sector, uint sectors, uint flags)
    {
        _memory.WriteU64(at, sector);
        _memory.WriteU32(at + 8, sectors);
        _memory.WriteU32(at + 12, flags);
    }

    [Fact]
    public void Write_zeroes_zeroes_every_segment()
    {
        Start();
        Segment(DataA, 2, 3, 0);
        Segment(DataA + 16, 100, 1, 1);   // unmap allowed for write-zeroes
        Assert.Equal(Ok, Request(WriteZeroes, 0, B(DataA, 32, false)).Status);
        var disk = Disk();
        Assert.All(disk[(2 * 512)..(5 * 512)], b => Assert.Equal(0, b));
        Assert.All(disk[(100 * 512)..(101 * 512)], b => Assert.Equal(0, b));
        Assert.Equal(_original[(5 * 512)..(100 * 512)], disk[(5 * 512)..(100 * 512)]);
    }

    [Fact]
    public void Discard_is_accepted_in_range_and_refused_with_unmap_or_out_of_range()
    {
        Start();
        Segment(DataA, 0, 8, 0);
        Assert.Equal(Ok, Request(Discard, 0, B(DataA, 16, false)).Status);
        Segment(DataA, 0, 8, 1);
        Assert.Equal(Unsupp, Request(Discard, 0, B(DataA, 16, false)).Status);
        Segment(DataA, 2047, 2, 0);
        Assert.Equal(IoErr, Request(Discard, 0, B(DataA, 16, false)).Status);
        Segment(DataA, 0, 1, 0);
        Assert.Equal(Unsupp, Request(Discard, 0, B(DataA, 8, false)).Status);    // half a segment
    }

    [Fact]
    public void Write_zeroes_with_one_bad_segment_changes_nothing()
    {
        Start();
        Segment(DataA, 0, 4, 0);
        Segment(DataA + 16, ulong.MaxValue / 2, 1, 0);
        Assert.Equal(IoErr, Request(WriteZeroes, 0, B(DataA, 32, false)).Status);
        Assert.Equal(_original, Disk());
    }

    [Theory]
    [InlineData(2047UL, 1024u)]                  // runs past the end
    [InlineData(2048UL, 512u)]                   // starts at the end
    [InlineData(0x00FF_FFFF_FFFF_FFFFUL, 512u)]  // sector * 512 overflows
    [InlineData(0UL, 100u)]                      // not whole sectors
    public void Read_outside_the_disk_fails_with_ioerr(ulong sector, uint length)
    {
        Start();
        Assert.Equal(IoErr, Request(In, sector, B(DataA, length, true)).Status);
    }

    [Fact]
    public void Unknown_request_type_is_unsupported()
    {
        Start();
        Assert.Equal(Unsupp, Request(0x77, 0).Status);
    }

    [Fact]
    public void Header_in_a_device_writable_buffer_fails_with_ioerr()
    {
        Start();
        WriteHeader(In, 0);
        var (status, _) = Run(_queue, 0, new(Header, 16, true), new(DataA, 512, true), new(Status, 1, true));
        Assert.Equal(IoErr, status);
    }

    [Fact]
    public void Data_buffer_outside_guest_ram_fails_with_ioerr_and_the_queue_goes_on()
    {
        Start();
        Assert.Equal(IoErr, Request(In, 0, B(0xFFF00, 0x1000, true)).Status);
        Assert.Equal(IoErr, Request(Out, 0, B(0x1_0000_0000, 512, false)).Status);
        Assert.Equal(_original, Disk());
        Assert.Equal(Ok, Request(In, 0, B(DataA, 512, true)).Status);
        if (_memory is InMemoryGuestMemory counted) Assert.Equal(0, counted.Refused);   // the chain check stopped it before any access
    }

    [Fact]
    public void Write_only_data_for_a_write_request_fails()
    {
        Start();
        // OUT with the data in a device-writable buffer: there is no data to write, and sector 0 is not touched.
        new Random(3).NextBytes(_memory.GetSpan(DataA, 512));
        var (status, _) = Request(Out, 0, B(DataA, 512, true));
        Assert.Equal(IoErr, status);
        Assert.Equal(_original, Disk());
    }

    [Fact]
    public void Chain_without_a_status_byte_is_returned_with_nothing_written()
    {
        Start();
        WriteHeader(In, 0);
        var (_, used) = Run(_queue, 0, new(Header, 16, false), new(DataA, 512, false));
        Assert.Equal(0u, used);
    }

    [Fact]
    public void Read_only_disk_offers_ro_and_refuses_writes_discards_and_write_zeroes()
    {
        Start(readOnly: true);
        ulong f = _driver.DeviceFeatures();
        Assert.Equal(1UL, f >> 5 & 1);
        Assert.Equal(0UL, f >> 13 & 1);
        Assert.Equal(0UL, f >> 14 & 1);
        Assert.Equal(IoErr, Request(Out, 0, B(DataA, 512, false)).Status);
        Segment(DataB, 0, 1, 0);
        Assert.Equal(IoErr, Request(WriteZeroes, 0, B(DataB, 16, false)).Status);
        Assert.Equal(IoErr, Request(Discard, 0, B(DataB, 16, false)).Status);
        Assert.Equal(Ok, Request(In, 0, B(DataA, 512, true)).Status);
        Assert.Equal(Ok, Request(Flush, 0).Status);
        Assert.Equal(_original, Disk());
    }

    [Fact]
    public void Second_queue_and_indirect_descriptors_work()
    {
        Start();
        _driver.Status = 0;
        Assert.True(_driver.Negotiate(ulong.MaxValue));
        _driver.EnableMsix();
        _driver.SetupQueue(0, 16, 0x1000, 1);
        var q2 = _driver.SetupQueue(2, 16, 0x3000, 3).Queue;
        _driver.DriverOk();
        WriteHeader(In, 5);
        _memory.Write(Status, [0xEE]);
        ushort head = q2.AddIndirectChain(0x6000, new(Header, 16, false), new(DataA, 512, true), new(Status, 1, true));
        q2.Publish(head);
        _driver.Kick(2);   // through the queue's ioeventfd thread
        Assert.Equal((head, 513u), q2.WaitUsed(TimeSpan.FromSeconds(10)));
        Assert.Equal(Ok, Bytes(Status, 1)[0]);
        Assert.Equal(_original[(5 * 512)..(6 * 512)], Bytes(DataA, 512));
    }
}

/// <summary>Every virtio-block test over the VMM's guest RAM (mmap'd, <see cref="IGuestMemoryFileIo"/>: preadv/pwritev).</summary>
public sealed class VirtioBlockOnVmmGuestMemoryTests() : VirtioBlockTests(GuestMemory.Create(0x100000))
{
    [Fact]
    public void The_vmm_guest_memory_offers_vectored_file_io()
    {
        using var memory = GuestMemory.Create(0x100000);
        Assert.IsAssignableFrom<IGuestMemoryFileIo>(memory);
    }
}
