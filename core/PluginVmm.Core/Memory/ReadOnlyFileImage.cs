namespace PluginVmm.Core.Memory;

/// <summary>
/// A whole file mapped read-only, for copying a kernel or initramfs into guest RAM. Mapping instead of
/// <c>File.ReadAllBytes</c> saves a heap buffer the size of the file (its page faults and one full copy), which is
/// a visible share of start-up where the VMM itself runs emulated (the nested sandbox's TCG L1).
/// </summary>
public sealed class ReadOnlyFileImage : IDisposable
{
    private readonly HostMemory? _mapping;

    private ReadOnlyFileImage(HostMemory? mapping) => _mapping = mapping;

    /// <summary>Maps <paramref name="path"/>; an empty file gives an empty image.</summary>
    /// <exception cref="IOException">The file cannot be opened or mapped, or is 2 GiB or larger.</exception>
    public static ReadOnlyFileImage Open(string path)
    {
        long length = new FileInfo(path).Length;   // FileNotFoundException is an IOException
        if (length >= int.MaxValue) throw new IOException($"{path}: {length} bytes; images of 2 GiB or more are not supported");
        if (length == 0) return new ReadOnlyFileImage(null);
        try
        {
            return new ReadOnlyFileImage(HostMemory.MapFile(path, (ulong)length, readOnly: true));
        }
        catch (Interop.ErrnoException e)
        {
            throw new IOException($"{path}: {e.Message}", e);
        }
    }

    /// <summary>The file's bytes (valid until Dispose).</summary>
    public ReadOnlySpan<byte> Span => _mapping is null ? [] : _mapping.GetSpan(0, (int)_mapping.Size);

    /// <inheritdoc/>
    public void Dispose() => _mapping?.Dispose();
}
