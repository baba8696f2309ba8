using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Resources;

namespace PluginVmm.Tests.Pci.Fakes;

/// <summary>
/// A device on the real SDK path (<see cref="PciDevice"/> over <see cref="PciConfiguration"/>). BAR reads return
/// the BAR index + 1 in every byte; accesses are recorded; MoveBar can be made to throw.
/// </summary>
public sealed class TestPciDevice : PciDevice
{
    public TestPciDevice(params PciBarSpec[] bars) : base(NewConfig(bars))
    {
    }

    public List<(int Index, ulong Offset, int Length, bool Write)> Accesses { get; } = [];

    public List<BarReprogrammingParams> Moves { get; } = [];

    /// <summary>Return an exception to make <see cref="PciDevice.MoveBar"/> throw for that move.</summary>
    public Func<BarReprogrammingParams, Exception?>? MoveFault { get; set; }

    /// <summary>Makes ReadBar throw (a buggy device).</summary>
    public bool ThrowOnBarRead { get; set; }

    public override void ReadBar(int index, ulong offset, Span<byte> data)
    {
        if (ThrowOnBarRead) throw new InvalidOperationException("device bug");
        Accesses.Add((index, offset, data.Length, false));
        data.Fill((byte)(index + 1));
    }

    public override void WriteBar(int index, ulong offset, ReadOnlySpan<byte> data) => Accesses.Add((index, offset, data.Length, true));

    protected override void OnBarMoving(BarReprogrammingParams move)
    {
        if (MoveFault?.Invoke(move) is { } e) throw e;
        Moves.Add(move);
    }

    private static PciConfiguration NewConfig(PciBarSpec[] bars)
    {
        var c = new PciConfiguration(0x1af4, 0x1234, 0xFF, 0x00, revision: 1);
        foreach (var bar in bars) c.AddBar(bar);
        return c;
    }
}

/// <summary>A <see cref="TestPciDevice"/> that registers resources: a memory slot and an ioeventfd.</summary>
public static class ResourceSetup
{
    public static (IDisposable Slot, IIoEvent IoEvent) Attach(IBarResources resources, int slotBar, ulong slotOffset, ulong slotSize, int ioBar, ulong ioOffset)
    {
        var memory = resources.MapFile("/nonexistent/shm", slotSize);
        return (resources.MapIntoBar(slotBar, slotOffset, memory), resources.AddIoEvent(ioBar, ioOffset, 4));
    }
}
