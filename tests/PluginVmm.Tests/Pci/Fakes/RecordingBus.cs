using PluginVmm.Core.Pci;

namespace PluginVmm.Tests.Pci.Fakes;

/// <summary>In-process PIO and MMIO buses: range maps with overlap checks, dispatch, and fault injection.</summary>
public sealed class RecordingBus(FaultInjector faults) : IBarMapper
{
    private readonly Dictionary<BusSpace, List<(AddressRange Range, IBusRangeHandler Handler)>> _maps = new()
    {
        [BusSpace.Pio] = [],
        [BusSpace.Mmio] = [],
    };

    public IReadOnlyList<(AddressRange Range, IBusRangeHandler Handler)> Mappings(BusSpace space) => _maps[space];

    public void Map(BusSpace space, AddressRange range, IBusRangeHandler handler)
    {
        faults.Step($"map {space} {range}");
        var list = _maps[space];
        if (list.Any(m => m.Range.Overlaps(range))) throw new InvalidOperationException($"{space} {range} overlaps a mapping");
        list.Add((range, handler));
    }

    public void Unmap(BusSpace space, AddressRange range)
    {
        faults.Step($"unmap {space} {range}");
        var list = _maps[space];
        int i = list.FindIndex(m => m.Range == range);
        if (i < 0) throw new InvalidOperationException($"{space} {range} is not mapped");
        list.RemoveAt(i);
    }

    /// <summary>True when exactly <paramref name="range"/> is mapped to a handler.</summary>
    public bool IsMapped(BusSpace space, AddressRange range) => _maps[space].Any(m => m.Range == range);

    /// <summary>The mapping containing <paramref name="address"/>, if any.</summary>
    public (AddressRange Range, IBusRangeHandler Handler)? Find(BusSpace space, ulong address) =>
        _maps[space].Where(m => m.Range.Contains(address)).Select(m => ((AddressRange, IBusRangeHandler)?)m).FirstOrDefault();

    /// <summary>A guest read: all ones where nothing is mapped.</summary>
    public byte[] Read(BusSpace space, ulong address, int length)
    {
        var data = new byte[length];
        if (Find(space, address) is { } m) m.Handler.Read(address - m.Range.Start, data);
        else Array.Fill(data, (byte)0xFF);
        return data;
    }

    public uint Read32(BusSpace space, ulong address) => BitConverter.ToUInt32(Read(space, address, 4));

    /// <summary>A guest write: dropped where nothing is mapped.</summary>
    public void Write(BusSpace space, ulong address, ReadOnlySpan<byte> data)
    {
        if (Find(space, address) is { } m) m.Handler.Write(address - m.Range.Start, data);
    }
}
