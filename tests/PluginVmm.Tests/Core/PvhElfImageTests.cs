using PluginVmm.Core.Boot;
using PluginVmm.Tests.Kvm;
using Xunit;

namespace PluginVmm.Tests.Core;

public sealed class PvhElfImageTests
{
    [Fact]
    public void Parse_BuiltGuest_FindsEntryNoteAndLoadSegment()
    {
        var image = File.ReadAllBytes(TinyGuestBuilder.Build("hello"));
        var elf = PvhElfImage.Parse(image);

        Assert.False(elf.Is64Bit);
        Assert.Equal(0x100000UL, elf.EntryPoint);  // _start is first in .text at 1 MiB
        Assert.Contains(elf.Segments, s => s.PhysicalAddress == 0x100000 && s.MemorySize >= s.FileSize);
    }

    [Fact]
    public void Parse_WithoutProgramHeaderNote_FindsItInSections()
    {
        var image = File.ReadAllBytes(TinyGuestBuilder.Build("hello"));
        // Turn the PT_NOTE program header (ELF32, e_phoff at 28) into PT_NULL: the SHT_NOTE section must still be found.
        int phoff = BitConverter.ToInt32(image, 28), phentsize = BitConverter.ToUInt16(image, 42), phnum = BitConverter.ToUInt16(image, 44);
        for (int i = 0; i < phnum; i++)
            if (BitConverter.ToUInt32(image, phoff + i * phentsize) == 4) BitConverter.GetBytes(0u).CopyTo(image, phoff + i * phentsize);

        Assert.Equal(0x100000UL, PvhElfImage.Parse(image).EntryPoint);
    }

    [Theory]
    [InlineData(new byte[] { })]
    [InlineData(new byte[] { 0x4D, 0x5A, 0x90, 0x00 })]
    [InlineData(new byte[] { 0x7F, (byte)'E', (byte)'L', (byte)'F', 2, 1 })]
    public void Parse_Garbage_ThrowsPvhImageException(byte[] image) =>
        Assert.Throws<PvhImageException>(() => PvhElfImage.Parse(image));

    [Fact]
    public void Parse_TruncatedOrRandom_ThrowsPvhImageExceptionOnly()
    {
        var good = File.ReadAllBytes(TinyGuestBuilder.Build("hello"));
        var rng = new Random(1234);
        for (int i = 0; i < 300; i++)
        {
            var bad = good.AsSpan(0, rng.Next(good.Length)).ToArray();
            if (bad.Length > 64) rng.NextBytes(bad.AsSpan(4 + rng.Next(60), 4));
            try { PvhElfImage.Parse(bad); }
            catch (PvhImageException) { }
        }
    }

    [Fact]
    public void Parse_ElfWithoutNote_SaysItIsNotPvh()
    {
        var image = File.ReadAllBytes(TinyGuestBuilder.Build("hello"));
        // Change every note type 18 into 19.
        for (int i = 0; i + 12 <= image.Length; i += 4)
            if (BitConverter.ToUInt32(image, i) == 4 && BitConverter.ToUInt32(image, i + 4) == 4 && BitConverter.ToUInt32(image, i + 8) == 18)
                image[i + 8] = 19;
        var e = Assert.Throws<PvhImageException>(() => PvhElfImage.Parse(image));
        Assert.Contains("XEN_ELFNOTE_PHYS32_ENTRY", e.Message);
    }
}
