using PluginVmm.Core.Boot;
using Xunit;

namespace PluginVmm.Tests.Boot;

public sealed class LinuxSetupHeaderTests
{
    [Fact]
    public void Synthetic_header_parses_every_field()
    {
        var h = LinuxSetupHeader.Parse(SyntheticBzImage.Build(initSize: 0x123000, prefAddress: 0x200_0000));
        Assert.Equal(0xAA55, h.BootFlag);
        Assert.Equal(0x020F, h.Version);
        Assert.Equal("2.15", h.VersionText);
        Assert.Equal(SyntheticBzImage.KernelOffset, h.KernelOffset);
        Assert.True(h.Relocatable);
        Assert.Equal(0x7FFu, h.CmdlineSize);
        Assert.Equal(0x7FFF_FFFFu, h.InitrdAddrMax);
        Assert.Equal(0x123000u, h.InitSize);
        Assert.Equal(0x200_0000ul, h.PrefAddress);
        Assert.Equal(0x20_0000u, h.KernelAlignment);
        Assert.Equal(0x202 + 0x6A - 0x1F1, h.HeaderLength);
    }

    [Fact]
    public void Zero_setup_sects_means_four()
    {
        var image = SyntheticBzImage.Build();
        image[0x1F1] = 0;
        Assert.Equal(5 * 512, LinuxSetupHeader.Parse(image).KernelOffset);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(0x1F1)]
    [InlineData(0x205)]
    public void Too_short_is_refused(int length)
    {
        var e = Assert.Throws<LinuxImageException>(() => LinuxSetupHeader.Parse(new byte[length]));
        Assert.Contains("too short", e.Message);
    }

    [Fact]
    public void Missing_magic_is_not_a_bzimage()
    {
        var image = SyntheticBzImage.Build();
        image[0x202] = (byte)'X';
        Assert.Contains("HdrS", Assert.Throws<LinuxImageException>(() => LinuxSetupHeader.Parse(image)).Message);
    }

    [Fact]
    public void Elf_file_is_named_as_such()
    {
        var elf = new byte[0x1000];
        "\u007fELF"u8.CopyTo(elf);
        Assert.Contains("ELF", Assert.Throws<LinuxImageException>(() => LinuxSetupHeader.Parse(elf)).Message);
    }

    [Fact]
    public void Wrong_boot_flag_is_refused()
    {
        var image = SyntheticBzImage.Build();
        image[0x1FE] = 0;
        Assert.Contains("boot_flag", Assert.Throws<LinuxImageException>(() => LinuxSetupHeader.Parse(image)).Message);
    }

    [Theory]
    [InlineData(0x0200)]
    [InlineData(0x0205)]
    public void Old_protocol_is_refused(ushort version)
    {
        var e = Assert.Throws<LinuxImageException>(() => LinuxSetupHeader.Parse(SyntheticBzImage.Build(version: version)));
        Assert.Contains("too old", e.Message);
    }

    [Fact]
    public void Protocol_206_is_accepted_with_defaults_for_later_fields()
    {
        var h = LinuxSetupHeader.Parse(SyntheticBzImage.Build(version: 0x0206));
        Assert.Equal(0x10_0000ul, h.PrefAddress);
        Assert.Equal(0u, h.InitSize);
        Assert.Equal(0, h.XLoadFlags);
    }

    [Fact]
    public void ZImage_is_refused()
    {
        var e = Assert.Throws<LinuxImageException>(() => LinuxSetupHeader.Parse(SyntheticBzImage.Build(loadFlags: 0)));
        Assert.Contains("zImage", e.Message);
    }

    [Fact]
    public void Syssize_beyond_the_file_is_truncation()
    {
        var image = SyntheticBzImage.Build();
        SyntheticBzImage.W32(image, 0x1F4, 0x10_0000);
        Assert.Contains("truncated", Assert.Throws<LinuxImageException>(() => LinuxSetupHeader.Parse(image)).Message);
    }

    [Fact]
    public void Setup_sects_beyond_the_file_is_truncation()
    {
        var image = SyntheticBzImage.Build();
        image[0x1F1] = 255;
        Assert.Contains("truncated", Assert.Throws<LinuxImageException>(() => LinuxSetupHeader.Parse(image)).Message);
    }

    [Fact]
    public void Every_prefix_of_a_valid_image_parses_or_throws_LinuxImageException()
    {
        var image = SyntheticBzImage.Build(payloadLength: 0x400);
        for (var length = 0; length <= image.Length; length++)
        {
            try { LinuxSetupHeader.Parse(image.AsSpan(0, length)); }
            catch (LinuxImageException) { }
        }
        // The full image (and only images reaching the end of syssize) parse.
        Assert.Throws<LinuxImageException>(() => LinuxSetupHeader.Parse(image.AsSpan(0, image.Length - 1)));
        LinuxSetupHeader.Parse(image);
    }

    [Fact]
    public void Random_garbage_throws_only_LinuxImageException()
    {
        var random = new Random(1234);
        for (var i = 0; i < 2000; i++)
        {
            var garbage = new byte[random.Next(0, 0x1400)];
            random.NextBytes(garbage);
            if (i % 2 == 0 && garbage.Length >= 0x210)
            {
                // Half of them get the right magic so parsing goes deeper.
                garbage[0x1FE] = 0x55; garbage[0x1FF] = 0xAA;
                "HdrS"u8.CopyTo(garbage.AsSpan(0x202));
                garbage[0x207] = 2;
            }
            try { LinuxSetupHeader.Parse(garbage); }
            catch (LinuxImageException) { }
        }
    }

    [DebianKernelFact]
    public void Debian_cloud_kernel_header()
    {
        var image = File.ReadAllBytes(DebianCloudKernel.VmlinuzPath);
        var h = LinuxSetupHeader.Parse(image);
        Assert.Equal(LinuxSetupHeader.BootFlagValue, h.BootFlag);
        Assert.Equal("HdrS"u8.ToArray(), image.AsSpan(0x202, 4).ToArray());
        Assert.True(h.Version >= 0x020F, $"protocol {h.VersionText}");
        Assert.True(h.Relocatable);
        Assert.Equal(LinuxSetupHeader.XlfKernel64 | LinuxSetupHeader.XlfCanBeLoadedAbove4G,
            h.XLoadFlags & (LinuxSetupHeader.XlfKernel64 | LinuxSetupHeader.XlfCanBeLoadedAbove4G));
        Assert.NotEqual(0, h.LoadFlags & LinuxSetupHeader.LoadedHigh);
        Assert.True(h.InitSize > 0x100_0000, $"init_size 0x{h.InitSize:x}");
        Assert.True(h.CmdlineSize >= 255);
        Assert.Equal(0x10_0000u, h.Code32Start);
    }
}
