namespace PluginVmm.Sdk.Resources;

/// <summary>A host memory mapping owned by the core (a shared file, a VFIO region), bounds-checked.</summary>
public interface IHostMemory : IDisposable
{
    /// <summary>Bytes mapped.</summary>
    ulong Size { get; }

    /// <summary>A live view of [offset, offset+length); throws <see cref="ArgumentOutOfRangeException"/> outside.</summary>
    Span<byte> GetSpan(ulong offset, int length);
}
