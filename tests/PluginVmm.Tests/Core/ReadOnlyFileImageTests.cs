using PluginVmm.Core.Memory;
using Xunit;

namespace PluginVmm.Tests.Core;

public sealed class ReadOnlyFileImageTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pluginvmm-image-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_mapped_file_reads_back_its_bytes()
    {
        var bytes = new byte[3 * 4096 + 17];
        new Random(7).NextBytes(bytes);
        var path = Path.Combine(_dir, "kernel");
        File.WriteAllBytes(path, bytes);

        using var image = ReadOnlyFileImage.Open(path);

        Assert.True(image.Span.SequenceEqual(bytes));
    }

    [Fact]
    public void An_empty_file_is_an_empty_image()
    {
        var path = Path.Combine(_dir, "empty");
        File.WriteAllBytes(path, []);

        using var image = ReadOnlyFileImage.Open(path);

        Assert.Equal(0, image.Span.Length);
    }

    [Fact]
    public void A_missing_file_is_an_IOException_naming_it()
    {
        var path = Path.Combine(_dir, "missing");

        var e = Assert.ThrowsAny<IOException>(() => ReadOnlyFileImage.Open(path));

        Assert.Contains("missing", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_directory_is_an_IOException_not_a_crash()
    {
        Assert.ThrowsAny<IOException>(() => ReadOnlyFileImage.Open(_dir));
    }
}
