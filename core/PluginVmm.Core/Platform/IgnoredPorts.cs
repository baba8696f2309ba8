namespace PluginVmm.Core.Platform;

/// <summary>
/// Legacy ports Linux touches that need no device: writes are absorbed, reads return a fixed byte. Used for the
/// POST port 0x80, the I/O-delay port 0xED, DMA page registers, the CMOS/RTC index and data ports (reading zero
/// keeps the RTC "update in progress" bit clear) and port 0x92 (fast A20, bit 1 set: A20 enabled).
/// </summary>
public sealed class IgnoredPorts(byte readValue) : Buses.IBusHandler
{
    /// <summary>(base, length, read value) of each absorbed range.</summary>
    public static readonly IReadOnlyList<(ushort Base, ushort Length, byte ReadValue)> Defaults =
    [
        (0x70, 2, 0x00),   // CMOS / RTC
        (0x80, 1, 0xFF),   // POST codes
        (0x81, 0xF, 0x00), // DMA page registers 0x81-0x8F
        (0x92, 1, 0x02),   // system control port A: A20 on
        (0xED, 1, 0xFF),   // I/O delay
    ];

    /// <inheritdoc/>
    public void Read(ulong offset, Span<byte> data) => data.Fill(readValue);

    /// <inheritdoc/>
    public void Write(ulong offset, ReadOnlySpan<byte> data) { }
}
