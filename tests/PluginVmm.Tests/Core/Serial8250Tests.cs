using PluginVmm.Core.Platform;
using Xunit;

namespace PluginVmm.Tests.Core;

public sealed class Serial8250Tests
{
    private static byte Read(Serial8250 s, ulong reg) { var b = new byte[1]; s.Read(reg, b); return b[0]; }
    private static void Write(Serial8250 s, ulong reg, byte v) => s.Write(reg, [v]);

    [Fact]
    public void Thr_GoesToOutput_LsrReportsEmpty_ScratchHolds()
    {
        var output = new MemoryStream();
        var s = new Serial8250(output);
        Write(s, 0, (byte)'A');
        Assert.Equal(0x60, Read(s, 5) & 0x60);
        Write(s, 7, 0x5A);
        Assert.Equal(0x5A, Read(s, 7));
        Assert.Equal("A"u8.ToArray(), output.ToArray());
    }

    [Fact]
    public void Dlab_RedirectsDivisorLatch_AndIerKeepsLowNibble()
    {
        var output = new MemoryStream();
        var s = new Serial8250(output);
        Write(s, 3, 0x83);
        Write(s, 0, 0x01);
        Write(s, 1, 0x00);
        Write(s, 3, 0x03);
        Assert.Empty(output.ToArray());  // divisor writes are not output
        Write(s, 1, 0xFF);
        Assert.Equal(0x0F, Read(s, 1));
    }

    [Fact]
    public void Loopback_ReflectsMcrInMsr_LikeTheLinuxProbeExpects()
    {
        var s = new Serial8250(Stream.Null);
        Write(s, 4, 0x1A);
        Assert.Equal(0x90, Read(s, 6) & 0xF0);
    }

    [Fact]
    public void ThreInterrupt_PulsesIrq_AndIirReportsItOnce()
    {
        int pulses = 0;
        var s = new Serial8250(Stream.Null, _ => pulses++);
        Write(s, 1, 0x02);
        Assert.Equal(1, pulses);
        Assert.Equal(0x02, Read(s, 2));
        Assert.Equal(0x01, Read(s, 2));
        Write(s, 0, (byte)'x');
        Assert.Equal(2, pulses);
    }
}
