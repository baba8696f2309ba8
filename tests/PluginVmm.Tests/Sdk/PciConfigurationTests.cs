using System.Buffers.Binary;
using PluginVmm.Sdk.Pci;
using Xunit;

namespace PluginVmm.Tests.Sdk;

public sealed class PciConfigurationTests
{
    private const int Command = 1;

    private static PciConfiguration NewConfig()
    {
        var c = new PciConfiguration(0x1234, 0x5678, 0x08, 0x80, revision: 1);
        c.AddBar(new PciBarSpec(0, 0x1000, PciBarKind.Memory32));
        c.AddBar(new PciBarSpec(2, 0x10_0000, PciBarKind.Memory64, Prefetchable: true));
        c.AddBar(new PciBarSpec(4, 0x20, PciBarKind.Io));
        c.AddBar(new PciBarSpec(PciBarIndex.Rom, 0x800, PciBarKind.Rom));
        c.SetBarAddress(0, 0xC000_0000);
        c.SetBarAddress(2, 0x1_0000_0000);
        c.SetBarAddress(4, 0x1000);
        c.SetBarAddress(PciBarIndex.Rom, 0xC001_0000);
        return c;
    }

    private static IReadOnlyList<BarReprogrammingParams> W32(PciConfiguration c, int reg, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        return c.Write(reg, 0, b);
    }

    private static void EnableDecoding(PciConfiguration c) => Assert.Empty(W32(c, Command, 0x3));

    [Fact]
    public void Identity_registers_read_back()
    {
        var c = NewConfig();
        Assert.Equal(0x5678_1234u, c.Read(0));
        Assert.Equal(0x0880_0001u, c.Read(2));
        Assert.Equal(0xFFFF_FFFFu, c.Read(1024));
    }

    [Theory]
    [InlineData(0xFFFF_FFFFu)]
    [InlineData(0xFFFF_FFF0u)] // OpenBSD's probe value
    public void Size_probe_of_32bit_bar_reads_mask_and_is_not_a_move(uint probe)
    {
        var c = NewConfig();
        EnableDecoding(c);
        Assert.Empty(W32(c, 4, probe));
        Assert.Equal(0xFFFF_F000u, c.Read(4));
        Assert.Empty(W32(c, 4, 0xC000_0000));
        Assert.Equal(0xC000_0000u, c.Read(4));
    }

    [Fact]
    public void Size_probe_of_64bit_bar_reads_both_halves_and_type_bits()
    {
        var c = NewConfig();
        EnableDecoding(c);
        Assert.Empty(W32(c, 6, 0xFFFF_FFFF));
        Assert.Empty(W32(c, 7, 0xFFFF_FFFF));
        Assert.Equal(0xFFF0_0000u | 0xC, c.Read(6)); // 64-bit (0x4) + prefetchable (0x8)
        Assert.Equal(0xFFFF_FFFFu, c.Read(7));
        Assert.Empty(W32(c, 6, 0x0000_0000));
        Assert.Empty(W32(c, 7, 0x1));
        Assert.Equal(0x1_0000_0000UL, c.GetRequestedBarAddress(2));
    }

    [Fact]
    public void Io_and_rom_probes_read_their_masks()
    {
        var c = NewConfig();
        Assert.Empty(W32(c, 8, 0xFFFF_FFFF));
        Assert.Equal(0xFFFF_FFE1u, c.Read(8));
        Assert.Empty(W32(c, 12, 0xFFFF_F800));
        Assert.Equal(0xFFFF_F800u, c.Read(12));
    }

    [Fact]
    public void Unimplemented_bar_reads_zero_even_after_probe()
    {
        var c = NewConfig();
        Assert.Empty(W32(c, 5, 0xFFFF_FFFF)); // slot 1 unused
        Assert.Equal(0u, c.Read(5));
    }

    [Fact]
    public void Write_with_decoding_on_is_a_move_carrying_the_bar_index()
    {
        var c = NewConfig();
        EnableDecoding(c);
        var moves = W32(c, 4, 0xD000_0000);
        var m = Assert.Single(moves);
        Assert.Equal(new BarReprogrammingParams(0, PciBarKind.Memory32, 0xC000_0000, 0xD000_0000, 0x1000), m);
    }

    [Fact]
    public void Low_half_of_64bit_bar_waits_for_high_half()
    {
        var c = NewConfig();
        EnableDecoding(c);
        Assert.Empty(W32(c, 6, 0x0020_0000));
        var m = Assert.Single(W32(c, 7, 0x2));
        Assert.Equal(new BarReprogrammingParams(2, PciBarKind.Memory64, 0x1_0000_0000, 0x2_0020_0000, 0x10_0000), m);
    }

    [Fact]
    public void Writes_with_decoding_off_are_reported_together_on_enable()
    {
        var c = NewConfig();
        Assert.Empty(W32(c, 4, 0xD000_0000));
        Assert.Empty(W32(c, 6, 0x0));
        Assert.Empty(W32(c, 7, 0x3));
        Assert.Equal(0xD000_0000u, c.Read(4)); // guest reads back what it wrote
        var moves = W32(c, Command, 0x2);
        Assert.Equal([0, 2], moves.Select(m => m.Index));
    }

    [Fact]
    public void Restore_by_index_when_bar1_moves_onto_bar0_address()
    {
        // Two 32-bit BARs; the guest moves BAR1 onto BAR0's address. CH matched by address and rewrote BAR0.
        var c = new PciConfiguration(1, 2, 0xFF, 0);
        c.AddBar(new PciBarSpec(0, 0x1000, PciBarKind.Memory32));
        c.AddBar(new PciBarSpec(1, 0x1000, PciBarKind.Memory32));
        c.SetBarAddress(0, 0xC000_0000);
        c.SetBarAddress(1, 0xC000_1000);
        EnableDecoding(c);
        var move = Assert.Single(W32(c, 5, 0xC000_0000));
        c.RestoreBarAddr(move);
        Assert.Equal(0xC000_0000u, c.Read(4));
        Assert.Equal(0xC000_1000u, c.Read(5));
        Assert.Empty(c.PendingMoves());
    }

    [Fact]
    public void Restore_puts_back_both_halves_of_a_64bit_bar()
    {
        var c = NewConfig();
        EnableDecoding(c);
        W32(c, 6, 0xFFF0_0000);
        var move = Assert.Single(W32(c, 7, 0xFFFF_FFFF - 1));
        c.RestoreBarAddr(move);
        Assert.Equal(0xCu, c.Read(6));
        Assert.Equal(0x1u, c.Read(7));
    }

    [Fact]
    public void Rom_bar_moves_with_memory_decoding_and_restores()
    {
        var c = NewConfig();
        EnableDecoding(c);
        var move = Assert.Single(W32(c, 12, 0xFEE0_0001));
        Assert.Equal(PciBarIndex.Rom, move.Index);
        Assert.Equal(0xC001_0000UL, move.OldBase);
        c.RestoreBarAddr(move);
        Assert.Equal(0xC001_0000u, c.Read(12) & ~1u);
        Assert.True(c.RomEnabled); // the enable bit the guest wrote stays
    }

    [Fact]
    public void Commit_makes_the_new_address_the_mapped_one()
    {
        var c = NewConfig();
        EnableDecoding(c);
        var move = Assert.Single(W32(c, 8, 0x2000));
        c.CommitBarMove(move);
        Assert.Equal(0x2000UL, c.GetBarAddress(4));
        Assert.Empty(c.PendingMoves());
    }

    [Fact]
    public void Bar_address_is_naturally_aligned_by_construction()
    {
        var c = NewConfig();
        EnableDecoding(c);
        var m = Assert.Single(W32(c, 4, 0xD000_0123));
        Assert.Equal(0xD000_0000UL, m.NewBase);
    }

    [Fact]
    public void Byte_write_to_the_top_byte_of_a_bar_is_a_move()
    {
        var c = NewConfig();
        EnableDecoding(c);
        var moves = c.Write(4, 3, [0xD0]);
        Assert.Equal(0xD000_0000UL, Assert.Single(moves).NewBase);
    }

    [Theory]
    [InlineData(1, 2)] // 2-byte write at odd offset
    [InlineData(2, 4)] // crosses the dword
    [InlineData(0, 3)] // bad size
    public void Malformed_writes_are_ignored(int offset, int size)
    {
        var c = NewConfig();
        Assert.Empty(c.Write(1, offset, new byte[size]));
        Assert.Equal(0u, c.Read(1) & 0xFFFF);
    }

    [Fact]
    public void Command_only_takes_writable_bits_and_status_is_read_only()
    {
        var c = NewConfig();
        W32(c, Command, 0xFFFF_FFFF);
        Assert.Equal(0x0547u, c.Read(1));
    }

    [Fact]
    public void Capability_chain_links_and_sets_status_bit()
    {
        var c = NewConfig();
        int a = c.AddCapability(0x09, new byte[6]);
        int b = c.AddCapability(0x11, new byte[10]);
        Assert.Equal(0x40, a);
        Assert.Equal(0x48, b);
        Assert.Equal(0x40u, c.Read(13));
        Assert.Equal(0x48, c.ReadByte(0x41));
        Assert.Equal(0x11, c.ReadByte(0x48));
        Assert.NotEqual(0u, c.Read(1) & 0x0010_0000);
    }

    [Fact]
    public void Overlapping_bar_slots_are_rejected()
    {
        var c = new PciConfiguration(1, 2, 0, 0);
        c.AddBar(new PciBarSpec(0, 0x1000, PciBarKind.Memory64));
        Assert.Throws<ArgumentException>(() => c.AddBar(new PciBarSpec(1, 0x1000, PciBarKind.Memory32)));
        Assert.Throws<ArgumentException>(() => c.AddBar(new PciBarSpec(2, 0x1001, PciBarKind.Memory32)));
    }
}
