namespace PluginVmm.Core.Platform;

/// <summary>
/// Just enough of the i8042 keyboard controller for Linux: data (0x60) and status (0x64) read as an idle
/// controller with no data, and command 0xFE (pulse the reset line) on 0x64 resets the VM. Registered at 0x60
/// with length 5 (0x60-0x64); offset 0 is data, offset 4 is status/command, 0x61-0x63 are left to KVM's PIT
/// speaker emulation when present (they are only reached here without it and read as zero).
/// </summary>
public sealed class I8042(Action reset) : Buses.IBusHandler
{
    /// <summary>Base port.</summary>
    public const ushort BasePort = 0x60;

    /// <summary>Command that pulses the CPU reset line.</summary>
    public const byte ResetCommand = 0xFE;

    private const byte StatusSystemFlag = 0x04;

    /// <inheritdoc/>
    public void Read(ulong offset, Span<byte> data)
    {
        data.Clear();
        if (offset == 4 && !data.IsEmpty) data[0] = StatusSystemFlag;  // no output, input buffer empty, POST passed
    }

    /// <inheritdoc/>
    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (offset == 4 && !data.IsEmpty && data[0] == ResetCommand) reset();
    }
}
