using PluginVmm.Core.Acpi;
using Xunit;

namespace PluginVmm.Tests.Acpi;

public sealed class AmlTests
{
    [Theory]
    [InlineData(0, new byte[] { 0x01 })]
    [InlineData(62, new byte[] { 0x3F })]                 // largest one-byte encoding: 63 including itself
    [InlineData(63, new byte[] { 0x41, 0x04 })]           // 65 = 0x41: lead 0x40 | 1, then 0x41 >> 4
    [InlineData(4093, new byte[] { 0x4F, 0xFF })]         // 4095: largest two-byte encoding
    [InlineData(4094, new byte[] { 0x81, 0x00, 0x01 })]   // 4097 = 0x1001 needs three bytes
    [InlineData(0xFFFFC, new byte[] { 0x8F, 0xFF, 0xFF })] // 0xFFFFF: largest three-byte encoding
    [InlineData(0xFFFFD, new byte[] { 0xC1, 0x00, 0x00, 0x01 })]
    public void PkgLength_counts_itself_and_picks_the_shortest_form(int body, byte[] expected)
    {
        Assert.Equal(expected, Aml.PkgLength(body));
    }

    [Fact]
    public void PkgLength_decodes_back_for_every_size_around_the_boundaries()
    {
        foreach (var body in Enumerable.Range(0, 5000).Concat(Enumerable.Range(0xFFF00, 0x200)))
        {
            var enc = Aml.PkgLength(body);
            var follow = enc[0] >> 6;
            Assert.Equal(enc.Length, follow + 1);
            var total = follow == 0 ? enc[0] & 0x3F : enc[0] & 0x0F;
            for (var i = 1; i <= follow; i++) total |= enc[i] << (4 + 8 * (i - 1));
            Assert.Equal(body + enc.Length, total);
            if (follow > 0) Assert.Equal(0, enc[0] & 0x30); // bits 5-4 reserved in multi-byte form
        }
    }

    [Fact]
    public void NameString_pads_segments_and_uses_prefixes()
    {
        Assert.Equal("_S5_"u8.ToArray(), Aml.NameString("_S5"));
        Assert.Equal([0x5C, .. "_SB_"u8], Aml.NameString("\\_SB"));
        Assert.Equal([0x5C, 0x2E, .. "_SB_PCI0"u8], Aml.NameString("\\_SB.PCI0"));
        Assert.Equal([0x2F, 0x03, .. "_SB_PCI0COM1"u8], Aml.NameString("_SB.PCI0.COM1"));
        Assert.Equal([0x5E, 0x5E, .. "FOO_"u8], Aml.NameString("^^FOO"));
        Assert.Equal(new byte[] { 0x5C, 0x00 }, Aml.NameString("\\"));
    }

    [Theory]
    [InlineData("1ABC")]
    [InlineData("ABCDE")]
    [InlineData("ab")]
    [InlineData("A..B")]
    public void NameString_refuses_invalid_segments(string name)
    {
        Assert.Throws<ArgumentException>(() => Aml.NameString(name));
    }

    [Theory]
    [InlineData(0ul, new byte[] { 0x00 })]
    [InlineData(1ul, new byte[] { 0x01 })]
    [InlineData(5ul, new byte[] { 0x0A, 0x05 })]
    [InlineData(0x100ul, new byte[] { 0x0B, 0x00, 0x01 })]
    [InlineData(0xE800_0000ul, new byte[] { 0x0C, 0x00, 0x00, 0x00, 0xE8 })]
    [InlineData(0x1_0000_0000ul, new byte[] { 0x0E, 0, 0, 0, 0, 1, 0, 0, 0 })]
    public void Integer_uses_the_shortest_encoding(ulong value, byte[] expected)
    {
        Assert.Equal(expected, Aml.Integer(value));
    }

    [Theory]
    [InlineData("PNP0A03", 0x030AD041u)]
    [InlineData("PNP0A08", 0x080AD041u)]
    [InlineData("PNP0501", 0x0105D041u)]
    [InlineData("PNP0C02", 0x020CD041u)]
    public void EisaId_packs_vendor_letters_and_product(string id, uint dword)
    {
        Assert.Equal([0x0C, (byte)dword, (byte)(dword >> 8), (byte)(dword >> 16), (byte)(dword >> 24)], Aml.EisaId(id));
    }

    [Fact]
    public void S5_package_encodes_like_iasl()
    {
        // iasl: Name (_S5, Package (0x04) { 0x05, 0x05, Zero, Zero })
        var expected = new byte[] { 0x08, (byte)'_', (byte)'S', (byte)'5', (byte)'_', 0x12, 0x08, 0x04, 0x0A, 0x05, 0x0A, 0x05, 0x00, 0x00 };
        Assert.Equal(expected, Aml.Name("_S5", Aml.Package(Aml.Integer(5), Aml.Integer(5), Aml.Integer(0), Aml.Integer(0))));
    }

    [Fact]
    public void Device_uses_ext_op_and_wraps_its_body()
    {
        var device = Aml.Device("COM1", Aml.Name("_UID", Aml.Integer(0)));
        Assert.Equal([0x5B, 0x82, 0x0B, .. "COM1"u8, 0x08, .. "_UID"u8, 0x00], device);
    }

    [Fact]
    public void Long_scope_gets_a_multibyte_pkglength()
    {
        var names = Enumerable.Range(0, 20).Select(i => Aml.Name($"N{i:D3}", Aml.Integer(0x12345678))).ToArray();
        var scope = Aml.Scope("\\_SB", names);
        Assert.Equal(0x10, scope[0]);
        var body = 5 + names.Sum(n => n.Length);
        Assert.Equal(Aml.PkgLength(body), scope.AsSpan(1, 2).ToArray());
        Assert.Equal(1 + 2 + body, scope.Length);
    }

    [Fact]
    public void Resource_template_ends_with_end_tag_and_counts_its_bytes()
    {
        var t = Aml.ResourceTemplate(AmlResource.Io(0x3F8, 0x3F8, 0, 8), AmlResource.IrqNoFlags(4));
        // Buffer op, PkgLength, BufferSize (byte 13), IO (8), IRQ (3), End tag (2)
        Assert.Equal(new byte[] { 0x11, 0x10, 0x0A, 0x0D, 0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x00, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00 }, t);
    }

    [Fact]
    public void Address_space_descriptors_have_declared_lengths_and_range_lengths()
    {
        var word = AmlResource.WordIo(0x0D00, 0xFFFF);
        Assert.Equal(0x88, word[0]);
        Assert.Equal(word.Length - 3, BitConverter.ToUInt16(word, 1));
        Assert.Equal(0xF300, BitConverter.ToUInt16(word, 14));
        var dword = AmlResource.DWordMemory(0xC000_0000, 0xE7FF_FFFF);
        Assert.Equal(dword.Length - 3, BitConverter.ToUInt16(dword, 1));
        Assert.Equal(0x2800_0000u, BitConverter.ToUInt32(dword, 22));
        var qword = AmlResource.QWordMemory(0x1_0000_0000, 0x1F_FFFF_FFFF);
        Assert.Equal(qword.Length - 3, BitConverter.ToUInt16(qword, 1));
        Assert.Equal(0x1F_0000_0000ul, BitConverter.ToUInt64(qword, 38));
        var fixed32 = AmlResource.Memory32Fixed(0xE800_0000, 0x10_0000);
        Assert.Equal(fixed32.Length - 3, BitConverter.ToUInt16(fixed32, 1));
        Assert.Throws<ArgumentException>(() => AmlResource.DWordMemory(2, 1));
    }
}
