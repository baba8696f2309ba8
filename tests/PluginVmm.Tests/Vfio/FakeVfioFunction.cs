using System.Buffers.Binary;
using PluginVmm.Plugins.Vfio;
using PluginVmm.Sdk.Interrupts;

namespace PluginVmm.Tests.Vfio;

/// <summary>
/// A host function in memory, beneath <see cref="VfioDevice"/> in unit tests only: config space and BAR contents as
/// byte arrays, region accesses recorded, failures on demand. The real path (VfioHostFunction over /dev/vfio) is
/// exercised by the sandbox's vfio scenario (edu passed through to an L2 Linux).
/// </summary>
internal sealed class FakeVfioFunction : IVfioFunction
{
    private readonly VfioRegion[] _regions = new VfioRegion[VfioRegion.Config + 1];
    private readonly byte[][] _contents = new byte[VfioRegion.Config + 1][];

    public FakeVfioFunction(ushort vendor = 0x1234, ushort device = 0x11e8)
    {
        for (int i = 0; i < _regions.Length; i++) { _regions[i] = VfioRegion.Absent(i); _contents[i] = []; }
        SetRegion(VfioRegion.Config, 256);
        Config16(0, vendor);
        Config16(2, device);
        Config[0x0B] = 0xFF;
    }

    public string Address => "0000:00:01.0";

    public int DeviceFd => -1;

    public byte[] Config => _contents[VfioRegion.Config];

    public byte[] Contents(int region) => _contents[region];

    public int[] IrqCounts { get; } = new int[3];

    public bool FailAll { get; set; }

    public List<(int Region, ulong Offset, byte[] Data)> Writes { get; } = [];

    public List<(int Irq, int[] Fds)> IrqSets { get; } = [];

    public bool Disposed { get; private set; }

    /// <summary>Declares region <paramref name="index"/> of <paramref name="size"/> bytes, with no mmap-able area.</summary>
    public void SetRegion(int index, ulong size)
    {
        _regions[index] = new VfioRegion(index, size, (long)index << 40, true, true, []);
        _contents[index] = new byte[size];
    }

    public void Config16(int offset, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(Config.AsSpan(offset), value);

    public void Config32(int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Config.AsSpan(offset), value);

    /// <summary>Appends a capability at <paramref name="offset"/> (linked after the previous one added).</summary>
    public void AddCapability(int offset, byte id, params byte[] body)
    {
        if ((Config[6] & 0x10) == 0) { Config[6] |= 0x10; Config[0x34] = (byte)offset; }
        else
        {
            int last = Config[0x34];
            while (Config[last + 1] != 0) last = Config[last + 1];
            Config[last + 1] = (byte)offset;
        }
        Config[offset] = id;
        Config[offset + 1] = 0;
        body.CopyTo(Config, offset + 2);
    }

    public VfioRegion Region(int index) => (uint)index < (uint)_regions.Length ? _regions[index] : VfioRegion.Absent(index);

    public int IrqCount(int irqIndex) => (uint)irqIndex < 3 ? IrqCounts[irqIndex] : 0;

    public bool Read(VfioRegion region, ulong offset, Span<byte> data)
    {
        var bytes = _contents[region.Index];
        if (FailAll || offset >= (ulong)bytes.Length || (ulong)data.Length > (ulong)bytes.Length - offset) return false;
        bytes.AsSpan((int)offset, data.Length).CopyTo(data);
        return true;
    }

    public bool Write(VfioRegion region, ulong offset, ReadOnlySpan<byte> data)
    {
        var bytes = _contents[region.Index];
        if (FailAll || offset >= (ulong)bytes.Length || (ulong)data.Length > (ulong)bytes.Length - offset) return false;
        Writes.Add((region.Index, offset, data.ToArray()));
        data.CopyTo(bytes.AsSpan((int)offset));
        return true;
    }

    public bool SetIrqEventFds(int irqIndex, IReadOnlyList<int> eventFds)
    {
        if (FailAll) return false;
        IrqSets.Add((irqIndex, eventFds.ToArray()));
        return true;
    }

    public void Dispose() => Disposed = true;
}

/// <summary>An interrupt controller whose vectors have (made-up) eventfd numbers, so the device wires them to VFIO.</summary>
internal sealed class EventFdInterrupts : IInterruptController
{
    public List<Group> Groups { get; } = [];

    public IMsiVectorGroup CreateMsiGroup(int count)
    {
        var g = new Group(count, 100 * (Groups.Count + 1));
        Groups.Add(g);
        return g;
    }

    internal sealed class Group(int count, int firstFd) : IMsiVectorGroup
    {
        public int Count => count;

        public Dictionary<int, (MsiMessage Message, bool Masked)> Routes { get; } = [];

        public void Update(int vector, MsiMessage message, bool masked) => Routes[vector] = (message, masked);

        public void Trigger(int vector) { }

        public int? EventFd(int vector) => (uint)vector < (uint)count ? firstFd + vector : null;

        public void Dispose() { }
    }
}
