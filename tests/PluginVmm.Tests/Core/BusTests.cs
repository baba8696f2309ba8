using PluginVmm.Core.Buses;
using Xunit;

namespace PluginVmm.Tests.Core;

public sealed class BusTests
{
    private sealed class Recorder : IBusHandler
    {
        public readonly List<(string Op, ulong Offset, int Size)> Accesses = [];
        public Action? OnWrite;
        public void Read(ulong offset, Span<byte> data) { Accesses.Add(("r", offset, data.Length)); data.Fill(0x5A); }
        public void Write(ulong offset, ReadOnlySpan<byte> data) { Accesses.Add(("w", offset, data.Length)); OnWrite?.Invoke(); }
    }

    private sealed class Throwing : IBusHandler
    {
        public void Read(ulong offset, Span<byte> data) => throw new InvalidOperationException("boom");
        public void Write(ulong offset, ReadOnlySpan<byte> data) => throw new InvalidOperationException("boom");
    }

    [Fact]
    public void Dispatch_PassesOffsetFromBase_EndIsExclusive()
    {
        var bus = new PioBus();
        var dev = new Recorder();
        bus.Register(0x3F8, 8, dev);
        var b = new byte[1];

        Assert.True(bus.Read(0x3FD, b));
        Assert.True(bus.Write(0x3F8, b));
        Assert.False(bus.Read(0x400, b));  // base + length is outside
        Assert.Equal(0xFF, b[0]);
        Assert.Equal([("r", 5UL, 1), ("w", 0UL, 1)], dev.Accesses);
    }

    [Fact]
    public void Access_StraddlingTheEnd_IsUnhandled()
    {
        var bus = new MmioBus();
        var dev = new Recorder();
        bus.Register(0x1000, 0x10, dev);
        var b = new byte[4];

        Assert.False(bus.Read(0x100E, b));
        Assert.Equal([0xFF, 0xFF, 0xFF, 0xFF], b);
        Assert.True(bus.Read(0x100C, b));
        Assert.DoesNotContain(dev.Accesses, a => a.Offset == 0xE);
    }

    [Fact]
    public void Register_Overlapping_IsRefusedAndChangesNothing()
    {
        var bus = new MmioBus();
        bus.Register(0x1000, 0x1000, new Recorder());
        Assert.Throws<BusConflictException>(() => bus.Register(0x1FFF, 1, new Recorder()));
        Assert.Throws<BusConflictException>(() => bus.Register(0x0, 0x1001, new Recorder()));
        Assert.Throws<BusConflictException>(() => bus.Register(0x5000, 0, new Recorder()));
        Assert.Throws<BusConflictException>(() => bus.Register(ulong.MaxValue, 2, new Recorder()));
        bus.Register(0x2000, 1, new Recorder());   // adjacent is fine
        bus.Register(0xFFF, 1, new Recorder());
        bus.Register(ulong.MaxValue, 1, new Recorder());
        Assert.Equal(4, bus.Ranges.Count);
    }

    [Fact]
    public void Unregister_RemovesOnlyTheRangeAtThatBase()
    {
        var bus = new PioBus();
        bus.Register(0x60, 5, new Recorder());
        Assert.False(bus.Unregister(0x61));
        Assert.True(bus.Unregister(0x60));
        Assert.False(bus.TryLookup(0x62, out _));
        bus.Register(0x60, 1, new Recorder());  // free again
    }

    [Fact]
    public void TryLookup_ReturnsTheBase()
    {
        var bus = new MmioBus();
        var dev = new Recorder();
        bus.Register(0xE800_0000, 0x1000_0000, dev);
        Assert.True(bus.TryLookup(0xE812_3456, out var range));
        Assert.Equal(0xE800_0000UL, range.Base);
        Assert.Same(dev, range.Handler);
    }

    [Fact]
    public void Handler_MayUnregisterItselfDuringDispatch()
    {
        var bus = new PioBus();
        var dev = new Recorder();
        dev.OnWrite = () => bus.Unregister(0x500);
        bus.Register(0x500, 4, dev);
        Assert.True(bus.Write(0x500, new byte[1]));
        Assert.False(bus.Write(0x500, new byte[1]));
    }

    [Fact]
    public void ThrowingHandler_IsContained_ReadSeesAllOnes()
    {
        var bus = new PioBus();
        bus.Register(0x10, 1, new Throwing());
        var b = new byte[1];
        Assert.False(bus.Read(0x10, b));
        Assert.Equal(0xFF, b[0]);
        Assert.False(bus.Write(0x10, b));
    }
}
