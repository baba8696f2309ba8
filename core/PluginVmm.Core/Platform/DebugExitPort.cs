namespace PluginVmm.Core.Platform;

/// <summary>
/// QEMU isa-debug-exit at port 0xF4: a write of value v ends the VM with exit code (v &lt;&lt; 1) | 1. Only the low
/// byte counts, whatever the access width. Reads return zero.
/// </summary>
public sealed class DebugExitPort(Action<byte> exit) : Buses.IBusHandler
{
    /// <summary>The port.</summary>
    public const ushort Port = 0xF4;

    /// <inheritdoc/>
    public void Read(ulong offset, Span<byte> data) => data.Clear();

    /// <inheritdoc/>
    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (offset == 0 && !data.IsEmpty) exit(data[0]);
    }
}
