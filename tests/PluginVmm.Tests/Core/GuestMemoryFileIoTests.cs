using Microsoft.Win32.SafeHandles;
using PluginVmm.Core.Memory;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Testing;
using Xunit;

namespace PluginVmm.Tests.Core;

/// <summary>
/// Vectored file I/O between a real file and the VMM's guest RAM (readv/writev/preadv/pwritev with iovecs into the
/// guest mappings), and <see cref="GuestFileIo"/> over it and over the test kit's memory (span by span).
/// </summary>
public sealed class GuestMemoryFileIoTests : IDisposable
{
    private readonly string _path = Path.GetTempFileName();
    private readonly GuestMemory _memory = GuestMemory.Create(1 << 20);

    public void Dispose()
    {
        _memory.Dispose();
        File.Delete(_path);
    }

    private SafeFileHandle Open() => File.OpenHandle(_path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);

    [Fact]
    public void Pwritev_and_preadv_move_scattered_guest_ranges_in_order()
    {
        _memory.Write(0x1000, "abc"u8);
        _memory.Write(0x5000, "defgh"u8);
        using var file = Open();
        Assert.Equal(8, _memory.WriteToFile(file, [new(0x1000, 3), new(0x5000, 5)], 10));
        var disk = File.ReadAllBytes(_path);
        Assert.Equal("abcdefgh"u8.ToArray(), disk[10..18]);
        Assert.Equal(8, _memory.ReadFromFile(file, [new(0x9000, 5), new(0xA000, 3)], 10));
        Assert.Equal("abcde"u8.ToArray(), _memory.GetSpan(0x9000, 5).ToArray());
        Assert.Equal("fgh"u8.ToArray(), _memory.GetSpan(0xA000, 3).ToArray());
        Assert.Equal(0, _memory.ReadFromFile(file, [new(0x9000, 5)], 100));   // end of file
    }

    [Fact]
    public void Without_an_offset_the_file_position_is_used_and_advances()
    {
        _memory.Write(0x2000, "0123456789"u8);
        using var file = Open();
        Assert.Equal(4, _memory.WriteToFile(file, [new(0x2000, 4)], -1));
        Assert.Equal(6, _memory.WriteToFile(file, [new(0x2004, 2), new(0x2006, 4)], -1));
        Assert.Equal("0123456789"u8.ToArray(), File.ReadAllBytes(_path));
    }

    [Fact]
    public void A_range_outside_ram_moves_nothing()
    {
        _memory.Write(0x1000, "abc"u8);
        using var file = Open();
        Assert.Throws<GuestMemoryException>(() => _memory.WriteToFile(file, [new(0x1000, 3), new(0xFFFFF, 2)], 0));
        Assert.Throws<GuestMemoryException>(() => _memory.WriteToFile(file, [new(0x1000, 3), new(ulong.MaxValue - 1, 4)], 0));
        Assert.Throws<GuestMemoryException>(() => _memory.WriteToFile(file, [new(0x1000, -1)], 0));
        Assert.Empty(File.ReadAllBytes(_path));
        _memory.GetSpan(0x3000, 4).Fill(0x55);
        File.WriteAllBytes(_path, [1, 2, 3, 4]);
        Assert.Throws<GuestMemoryException>(() => _memory.ReadFromFile(file, [new(0x3000, 4), new(0x100000, 1)], 0));
        Assert.Equal(new byte[] { 0x55, 0x55, 0x55, 0x55 }, _memory.GetSpan(0x3000, 4).ToArray());
        Assert.Throws<ArgumentException>(() => _memory.WriteToFile(file, new GuestRange[_memory.MaxRanges + 1], 0));
    }

    [Fact]
    public void A_negative_offset_to_a_positional_transfer_is_refused_not_taken_as_the_file_position()
    {
        using var file = Open();
        File.WriteAllBytes(_path, "0123456789"u8.ToArray());
        _memory.Write(0x1000, "xyz"u8);
        foreach (IGuestMemory memory in new IGuestMemory[] { _memory, new InMemoryGuestMemory(1 << 20) })
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => GuestFileIo.ReadAt(memory, file, [new(0x1000, 3)], -1));
            Assert.Throws<ArgumentOutOfRangeException>(() => GuestFileIo.WriteAt(memory, file, [new(0x1000, 3)], -1));
        }
        Assert.Equal("0123456789"u8.ToArray(), File.ReadAllBytes(_path));
        Assert.Equal("xyz"u8.ToArray(), _memory.GetSpan(0x1000, 3).ToArray());
    }

    [Fact]
    public void A_failing_system_call_is_an_io_exception_with_the_errno_text()
    {
        using var readOnly = File.OpenHandle(_path, FileMode.Open, FileAccess.Read);
        var e = Assert.Throws<IOException>(() => _memory.WriteToFile(readOnly, [new(0x1000, 3)], 0));
        Assert.Contains("pwritev", e.Message);
        Assert.Contains("errno 9", e.Message);   // EBADF: not open for writing
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void GuestFileIo_moves_more_ranges_than_one_call_takes_and_stops_at_end_of_file(bool vmmMemory)
    {
        IGuestMemory memory = vmmMemory ? _memory : new InMemoryGuestMemory(1 << 20);
        // 1500 ranges of 7 bytes (more than IOV_MAX), every other 16-byte slot.
        var ranges = Enumerable.Range(0, 1500).Select(i => new GuestRange(0x10000 + (ulong)i * 16, 7)).ToArray();
        var data = new byte[1500 * 7];
        new Random(11).NextBytes(data);
        for (int i = 0; i < ranges.Length; i++) memory.Write(ranges[i].Address, data.AsSpan(i * 7, 7));
        using var file = Open();
        GuestFileIo.WriteAt(memory, file, ranges, 3);
        Assert.Equal(data, File.ReadAllBytes(_path)[3..]);
        foreach (var r in ranges) memory.GetSpan(r.Address, r.Length).Clear();
        // The file holds 3 + 10500 bytes: from offset 10 the last 7 bytes of ranges are past its end.
        Assert.Equal(data.Length - 7, GuestFileIo.ReadAt(memory, file, ranges, 10));
        var back = new byte[data.Length];
        for (int i = 0; i < ranges.Length; i++) memory.GetSpan(ranges[i].Address, 7).CopyTo(back.AsSpan(i * 7));
        Assert.Equal(data[7..], back[..^7]);
        Assert.Throws<GuestMemoryException>(() => GuestFileIo.WriteAt(memory, file, [new(0x1000, 1), new(1 << 20, 1)], 0));
    }
}
