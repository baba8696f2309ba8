using System.Buffers.Binary;
using PluginVmm.Sdk.Interrupts;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Testing;
using Xunit;

namespace PluginVmm.Tests.Virtio;

public sealed class MsixTableTests
{
    private readonly RecordingMsiVectorGroup _group = new(4);
    private readonly MsixTable _table;

    public MsixTableTests() => _table = new MsixTable(4, _group);

    private void Write32(ulong offset, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        _table.WriteTable(offset, b);
    }

    private uint Read32(ulong offset)
    {
        Span<byte> b = stackalloc byte[4];
        _table.ReadTable(offset, b);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    private void Program(int vector, ulong address, uint data, bool masked)
    {
        ulong e = (ulong)vector * 16;
        Write32(e, (uint)address);
        Write32(e + 4, (uint)(address >> 32));
        Write32(e + 8, data);
        Write32(e + 12, masked ? 1u : 0u);
    }

    [Fact]
    public void Entries_start_masked_and_read_back_what_was_written()
    {
        for (int v = 0; v < 4; v++) Assert.Equal(1u, Read32((ulong)v * 16 + 12));
        Program(2, 0xFEE0_1000, 0x41, masked: true);
        Assert.Equal(0xFEE0_1000u, Read32(32));
        Assert.Equal(0u, Read32(36));
        Assert.Equal(0x41u, Read32(40));
        Span<byte> q = stackalloc byte[8];
        _table.ReadTable(32, q);
        Assert.Equal(0xFEE0_1000UL, BinaryPrimitives.ReadUInt64LittleEndian(q));
    }

    [Fact]
    public void Route_is_pushed_only_when_enabled_and_unmasked_and_follows_changes()
    {
        Program(1, 0xFEE0_0000, 0x30, masked: false);
        Assert.Empty(_group.Updates);                      // MSI-X still disabled
        _table.SetMessageControl(MsixTable.ControlEnable);
        Assert.Equal((new MsiMessage(0xFEE0_0000, 0x30), false), _group.Route(1));
        Write32(16 + 8, 0x31);
        Assert.Equal((new MsiMessage(0xFEE0_0000, 0x31), false), _group.Route(1));
        _table.SetMessageControl(MsixTable.ControlEnable | MsixTable.ControlFunctionMask);
        Assert.True(_group.Route(1)!.Value.Masked);
        Assert.Null(_group.Route(0));                       // never unmasked, never pushed
    }

    [Fact]
    public void Masked_vector_sets_pending_bit_and_delivers_on_unmask()
    {
        _table.SetMessageControl(MsixTable.ControlEnable);
        Program(3, 0xFEE0_0000, 0x50, masked: true);
        _table.Trigger(3);
        Assert.Equal(0, _group.DeliveredCount(3));
        Assert.True(_table.IsPending(3));
        Span<byte> pba = stackalloc byte[8];
        _table.ReadPba(0, pba);
        Assert.Equal(1UL << 3, BinaryPrimitives.ReadUInt64LittleEndian(pba));
        Write32(3 * 16 + 12, 0);                            // unmask
        Assert.Equal(1, _group.DeliveredCount(3));
        Assert.False(_table.IsPending(3));
    }

    [Fact]
    public void Function_mask_holds_interrupts_as_pending_until_cleared()
    {
        Program(0, 0xFEE0_0000, 0x20, masked: false);
        _table.SetMessageControl(MsixTable.ControlEnable | MsixTable.ControlFunctionMask);
        _table.Trigger(0);
        Assert.True(_table.IsPending(0));
        _table.SetMessageControl(MsixTable.ControlEnable);
        Assert.Equal(1, _group.DeliveredCount(0));
        _table.Trigger(0);
        Assert.Equal(2, _group.DeliveredCount(0));
    }

    [Theory]
    [InlineData(0UL, 1)]
    [InlineData(0UL, 2)]
    [InlineData(2UL, 4)]
    [InlineData(4UL, 8)]
    [InlineData(64UL, 4)]     // past the 4-entry table
    [InlineData(60UL, 8)]     // straddles the end
    [InlineData(ulong.MaxValue - 3, 4)]
    public void Malformed_accesses_are_ignored(ulong offset, int size)
    {
        _table.SetMessageControl(MsixTable.ControlEnable);
        var data = new byte[size];
        Array.Fill(data, (byte)0);
        _table.WriteTable(offset, data);
        var read = new byte[size];
        Array.Fill(read, (byte)0xAA);
        _table.ReadTable(offset, read);
        Assert.All(read, b => Assert.Equal(0, b));
        for (int v = 0; v < 4; v++) Assert.Equal(1u, Read32((ulong)v * 16 + 12));  // nothing got unmasked
        Assert.Empty(_group.Updates);
        _table.Trigger(-1);
        _table.Trigger(4);
    }

    [Fact]
    public void Pba_writes_are_ignored_and_reset_masks_everything()
    {
        _table.SetMessageControl(MsixTable.ControlEnable);
        Program(0, 0xFEE0_0000, 0x20, masked: false);
        MsixTable.WritePba(0, new byte[8]);
        _table.Reset();
        Assert.Equal(1u, Read32(12));
        Assert.True(_group.Route(0)!.Value.Masked);
    }
}
