using System.Buffers.Binary;
using System.Text;
using PluginVmm.Core.Boot;
using Xunit;

namespace PluginVmm.Tests.Boot;

public sealed class LinuxBzImageLoaderTests
{
    private const int MiB = 1 << 20;
    private const ulong Rsdp = 0xE0000;

    private static (ulong, ulong, uint)[] E820(int ramBytes) =>
    [
        (0, 0x9_FC00, LinuxBootLayout.E820Ram),
        (0x9_FC00, 0x400, LinuxBootLayout.E820Reserved),
        (0x10_0000, (ulong)ramBytes - 0x10_0000, LinuxBootLayout.E820Ram),
        (0xE800_0000, 0x10_0000, LinuxBootLayout.E820Reserved),
    ];

    private static uint U32(ByteArrayGuestMemory m, ulong a) => BinaryPrimitives.ReadUInt32LittleEndian(m.Bytes.AsSpan((int)a));
    private static ulong U64(ByteArrayGuestMemory m, ulong a) => BinaryPrimitives.ReadUInt64LittleEndian(m.Bytes.AsSpan((int)a));

    private static string CString(ByteArrayGuestMemory m, ulong a)
    {
        var span = m.Bytes.AsSpan((int)a);
        return Encoding.ASCII.GetString(span[..span.IndexOf((byte)0)]);
    }

    /// <summary>The zero-page assertions shared by the synthetic and the real kernel.</summary>
    private static void AssertZeroPage(ByteArrayGuestMemory mem, byte[] image, LinuxBootResult r, string cmdline,
        byte[] initrd, (ulong, ulong, uint)[] e820, bool expectRsdp)
    {
        const ulong zp = LinuxBootLayout.ZeroPageAddress;
        // Setup header copied in: magic, version, and the fields we do not touch equal the image's.
        Assert.Equal(image.AsSpan(0x1F1, 0x1F).ToArray(), mem.Slice(zp + 0x1F1, 0x1F));
        Assert.Equal("HdrS", Encoding.ASCII.GetString(mem.Slice(zp + 0x202, 4)));
        Assert.Equal(image.AsSpan(0x230, 0x0C).ToArray(), mem.Slice(zp + 0x230, 0x0C));
        Assert.Equal(0xFF, mem.Bytes[zp + 0x210]);                                 // type_of_loader
        Assert.Equal(0x01, mem.Bytes[zp + 0x211] & 0xE1);                          // LOADED_HIGH, no heap/quiet/keep
        Assert.Equal(0x10_0000u, U32(mem, zp + 0x214));                            // code32_start
        Assert.Equal((uint)LinuxBootLayout.CmdlineAddress, U32(mem, zp + 0x228)); // cmd_line_ptr
        Assert.Equal(0u, U32(mem, zp + 0x0C8));                                    // ext_cmd_line_ptr
        Assert.Equal(cmdline, CString(mem, LinuxBootLayout.CmdlineAddress));
        Assert.Equal((uint)r.InitramfsAddress, U32(mem, zp + 0x218));              // ramdisk_image
        Assert.Equal((uint)initrd.Length, U32(mem, zp + 0x21C));                   // ramdisk_size
        Assert.Equal(0u, U32(mem, zp + 0x0C0));
        Assert.Equal(0u, U32(mem, zp + 0x0C4));
        Assert.Equal(expectRsdp ? Rsdp : 0, U64(mem, zp + 0x070));                 // acpi_rsdp_addr
        Assert.Equal(0, mem.Bytes[zp + 0x1EF]);                                    // sentinel stays 0
        Assert.Equal(e820.Length, mem.Bytes[zp + 0x1E8]);
        for (var i = 0; i < e820.Length; i++)
        {
            var at = zp + 0x2D0 + (ulong)(i * 20);
            Assert.Equal(e820[i], (U64(mem, at), U64(mem, at + 8), U32(mem, at + 16)));
        }
        Assert.Equal(0ul, U64(mem, zp + 0x2D0 + (ulong)(e820.Length * 20))); // nothing past the last entry

        // The initramfs: page aligned, below initrd_addr_max and the top of RAM, above the kernel, intact.
        Assert.Equal(0ul, r.InitramfsAddress % 0x1000);
        var initrdMax = BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(0x22C));
        Assert.True(r.InitramfsAddress + (ulong)initrd.Length - 1 <= initrdMax);
        Assert.True(r.InitramfsAddress + (ulong)initrd.Length <= (ulong)mem.Bytes.Length);
        Assert.True(r.InitramfsAddress >= r.Header.PrefAddress + r.Header.InitSize);
        Assert.True((ulong)mem.Bytes.Length - (r.InitramfsAddress + (ulong)initrd.Length) < 0x1000, "placed as high as possible");
        Assert.Equal(initrd, mem.Slice(r.InitramfsAddress, initrd.Length));

        // The protected-mode kernel at 1 MiB.
        var kernel = image.AsSpan(r.Header.KernelOffset);
        Assert.Equal((ulong)kernel.Length, r.KernelSize);
        Assert.True(kernel.SequenceEqual(mem.Bytes.AsSpan(0x10_0000, kernel.Length)));
    }

    private static void AssertEntryState(ByteArrayGuestMemory mem, LinuxBootEntry e)
    {
        Assert.Equal(0x10_0000ul, e.Rip);
        Assert.Equal(LinuxBootLayout.ZeroPageAddress, e.Rsi);
        Assert.Equal(0x2ul, e.Rflags);
        Assert.False(e.LongMode);
        Assert.Equal(1ul, e.Cr0 & 1);
        Assert.Equal(0ul, e.Cr0 & 0x8000_0000);
        Assert.Equal((ushort)0x10, e.Code.Selector);
        Assert.Equal((ushort)0x18, e.Data.Selector);
        Assert.Equal(0xFFFF_FFFFu, e.Code.Limit);
        Assert.Equal(0xFFFF_FFFFu, e.Data.Limit);
        // The GDT in memory agrees with the segment state: flat code at 0x10, flat data at 0x18.
        Assert.Equal(0x00CF_9B00_0000_FFFFul, U64(mem, e.GdtBase + 0x10));
        Assert.Equal(0x00CF_9300_0000_FFFFul, U64(mem, e.GdtBase + 0x18));
        Assert.True(e.GdtLimit >= 0x1F);
    }

    [Fact]
    public void Synthetic_image_loads_with_zero_page_cmdline_initramfs_and_e820()
    {
        var mem = new ByteArrayGuestMemory(64 * MiB);
        var image = SyntheticBzImage.Build();
        var initrd = Enumerable.Range(0, 10_000).Select(i => (byte)(i % 251)).ToArray();
        var e820 = E820(64 * MiB);
        const string cmdline = "console=ttyS0 reboot=t panic=-1";

        var r = LinuxBzImageLoader.Load(mem, image, cmdline, initrd, e820, Rsdp);

        AssertZeroPage(mem, image, r, cmdline, initrd, e820, expectRsdp: true);
        AssertEntryState(mem, r.Entry);
    }

    [Fact]
    public void Initramfs_respects_initrd_addr_max()
    {
        var mem = new ByteArrayGuestMemory(64 * MiB);
        var image = SyntheticBzImage.Build(initrdAddrMax: 0x1FF_FFFF); // 32 MiB - 1
        var r = LinuxBzImageLoader.Load(mem, image, "", new byte[5000], E820(64 * MiB), 0);
        Assert.Equal(0x200_0000ul - 0x2000, r.InitramfsAddress);
    }

    [Fact]
    public void No_initramfs_leaves_ramdisk_fields_zero()
    {
        var mem = new ByteArrayGuestMemory(32 * MiB);
        var r = LinuxBzImageLoader.Load(mem, SyntheticBzImage.Build(), "x", [], E820(32 * MiB), Rsdp);
        Assert.Equal(0ul, r.InitramfsAddress);
        Assert.Equal(0u, U32(mem, LinuxBootLayout.ZeroPageAddress + 0x218));
        Assert.Equal(0u, U32(mem, LinuxBootLayout.ZeroPageAddress + 0x21C));
    }

    [Fact]
    public void Rsdp_pointer_needs_protocol_2_14()
    {
        var mem = new ByteArrayGuestMemory(32 * MiB);
        LinuxBzImageLoader.Load(mem, SyntheticBzImage.Build(version: 0x020D), "", [], E820(32 * MiB), Rsdp);
        Assert.Equal(0ul, U64(mem, LinuxBootLayout.ZeroPageAddress + 0x070));
        LinuxBzImageLoader.Load(mem, SyntheticBzImage.Build(version: 0x020E), "", [], E820(32 * MiB), Rsdp);
        Assert.Equal(Rsdp, U64(mem, LinuxBootLayout.ZeroPageAddress + 0x070));
    }

    [Fact]
    public void Cmdline_longer_than_cmdline_size_is_refused()
    {
        var mem = new ByteArrayGuestMemory(32 * MiB);
        var image = SyntheticBzImage.Build(cmdlineSize: 10);
        LinuxBzImageLoader.Load(mem, image, new string('a', 10), [], E820(32 * MiB), 0);
        var e = Assert.Throws<LinuxImageException>(() => LinuxBzImageLoader.Load(mem, image, new string('a', 11), [], E820(32 * MiB), 0));
        Assert.Contains("at most 10", e.Message);
    }

    [Fact]
    public void Too_many_e820_entries_are_refused()
    {
        var mem = new ByteArrayGuestMemory(32 * MiB);
        var e820 = Enumerable.Range(0, 129).Select(i => ((ulong)i << 12, 0x1000ul, 1u)).ToArray();
        var e = Assert.Throws<LinuxImageException>(() => LinuxBzImageLoader.Load(mem, SyntheticBzImage.Build(), "", [], e820, 0));
        Assert.Contains("128", e.Message);
    }

    [Fact]
    public void Initramfs_that_does_not_fit_is_refused_before_anything_is_written()
    {
        var mem = new ByteArrayGuestMemory(32 * MiB);
        // Kernel runs at 16 MiB with init_size 2 MiB: 14 MiB of RAM above it.
        var e = Assert.Throws<LinuxImageException>(() =>
            LinuxBzImageLoader.Load(mem, SyntheticBzImage.Build(), "", new byte[15 * MiB], E820(32 * MiB), 0));
        Assert.Contains("initramfs", e.Message);
        Assert.All(mem.Bytes, b => Assert.Equal(0, b));
    }

    [Fact]
    public void Ram_too_small_for_the_decompressed_kernel_is_refused()
    {
        var mem = new ByteArrayGuestMemory(16 * MiB);
        var e = Assert.Throws<LinuxImageException>(() =>
            LinuxBzImageLoader.Load(mem, SyntheticBzImage.Build(), "", [], E820(16 * MiB), 0));
        Assert.Contains("decompressed kernel", e.Message);
    }

    [Fact]
    public void Hostile_pref_address_is_refused()
    {
        var mem = new ByteArrayGuestMemory(32 * MiB);
        var e = Assert.Throws<LinuxImageException>(() =>
            LinuxBzImageLoader.Load(mem, SyntheticBzImage.Build(prefAddress: ulong.MaxValue - 5, initSize: 0xFFFF_FFFF), "", [], E820(32 * MiB), 0));
        Assert.Contains("above 4 GiB", e.Message);
    }

    [Fact]
    public void Garbage_and_truncated_images_throw_LinuxImageException_from_Load()
    {
        var mem = new ByteArrayGuestMemory(32 * MiB);
        var image = SyntheticBzImage.Build(payloadLength: 0x200);
        for (var length = 0; length < image.Length; length += 7)
            Assert.Throws<LinuxImageException>(() => LinuxBzImageLoader.Load(mem, image.AsSpan(0, length), "", [], E820(32 * MiB), 0));
        var random = new Random(99);
        for (var i = 0; i < 200; i++)
        {
            var garbage = new byte[random.Next(0, 0x3000)];
            random.NextBytes(garbage);
            Assert.Throws<LinuxImageException>(() => LinuxBzImageLoader.Load(mem, garbage, "", [], E820(32 * MiB), 0));
        }
    }

    [DebianKernelFact]
    public void Debian_cloud_kernel_loads_with_zero_page_fields()
    {
        var image = File.ReadAllBytes(DebianCloudKernel.VmlinuzPath);
        const int ram = 160 * MiB;
        var mem = new ByteArrayGuestMemory(ram);
        var initrd = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("070701 initramfs bytes ", 4000)));
        var e820 = E820(ram);
        const string cmdline = "console=ttyS0 earlyprintk=ttyS0 reboot=t panic=-1 rdinit=/init";

        var r = LinuxBzImageLoader.Load(mem, image, cmdline, initrd, e820, Rsdp);

        AssertZeroPage(mem, image, r, cmdline, initrd, e820, expectRsdp: true);
        AssertEntryState(mem, r.Entry);
        Assert.Equal("HdrS", Encoding.ASCII.GetString(mem.Slice(LinuxBootLayout.ZeroPageAddress + 0x202, 4)));
    }

    [DebianKernelFact]
    public void Debian_cloud_kernel_truncated_throws_LinuxImageException()
    {
        var image = File.ReadAllBytes(DebianCloudKernel.VmlinuzPath);
        var mem = new ByteArrayGuestMemory(160 * MiB);
        foreach (var length in new[] { 0, 0x100, 0x1F1, 0x201, 0x205, 0x230, 0x263, 0x1000, 0x4000, image.Length / 2, image.Length - 0x1000 })
            Assert.Throws<LinuxImageException>(() => LinuxBzImageLoader.Load(mem, image.AsSpan(0, length), "", [], E820(160 * MiB), 0));
    }
}
