using PluginVmm.Tests.Fuzz;

namespace PluginVmm.Fuzz;

/// <summary>
/// Target 1: the input is a sequence of PCI operations (config reads/writes through ECAM or 0xCF8/0xCFC, raw port
/// accesses, MMIO/PIO loads and stores, host fences, Linux's 64-bit BAR reprogramming), run on a fresh
/// <see cref="PciFuzzBed"/> with every invariant checked after every operation (see PciGuestInputProperties).
/// Each operation is a tag byte and its fields; the encoding is in <see cref="Decode"/>.
/// </summary>
internal static class PciTarget
{
    private const int MaxOperations = 256;

    private static readonly ulong[] Addresses =
    [
        0, 0xCF8, 0xFFF0, 0x1_0000, 0x7FFF_F000, 0x8000_0000, 0xC000_0000, 0xE7FF_FFF0, 0xE800_0000, 0xFEC0_0000, 0xFEE0_0000,
        0xFFFF_FFF0, 0x1_0000_0000, (1UL << 39) - (64UL << 10) - (1UL << 20) - 0x10_0000, (1UL << 39) - (64UL << 10), 1UL << 39,
        0xFFFF_FFFF_FFFF_F000, ulong.MaxValue,
    ];

    private static readonly uint[] Values = [0, 1, 2, 3, 6, 7, 0x10, 0xFFFF_FFFF, 0xFFFF_FFF0, 0xFFFF_FFFE, 0xFFFF_FFFC, 0xFFFF_F800, 0xFFFF_F801, 0x8000_0000, 0xC000_0000];

    private static readonly long[] Deltas = [0, 0, 1, 4, 0x10, 0x1000, 0x1_0000, 0x10_0000, -0x10, -0x1000, -0x10_0000];

    private static readonly int[] AlignShifts = [4, 8, 12, 16, 20, 21, 24, 28, 32, 2, 34];

    private static readonly int[] Sizes = [4, 2, 1, 4, 3, 8];

    public static void Run(byte[] input, string diskImage) => PciGuestInputProperties.RunSequence(diskImage, Decode(input));

    public static PciOp[] Decode(byte[] input)
    {
        var r = new ByteReader(input);
        var ops = new List<PciOp>();
        while (r.More && ops.Count < MaxOperations)
        {
            byte tag = r.U8();
            var path = (tag & 0x10) != 0 ? ConfigPath.Ports : ConfigPath.Ecam;
            switch (tag % 8)
            {
                case 0 or 1 or 2:
                    byte where = r.U8();
                    int bus = where >= 0xF8 ? r.U8() : 0, function = (where & 0x70) == 0x70 ? where >> 4 & 7 : 0;
                    int device = where % 8;
                    byte reg = r.U8();
                    var register = reg < 0xC0 ? new RegisterSpec(reg % 16, false) : reg < 0xE0 ? new RegisterSpec(reg % 3, true) : new RegisterSpec(r.U16() % 1024, false);
                    byte place = r.U8();
                    int size = Sizes[place % Sizes.Length], offset = size == 4 ? (place >> 4) % 4 == 3 ? 1 : 0 : (place >> 4) % 4;
                    ops.Add(new ConfigAccess(path, (tag & 0x20) == 0, bus, device, function, register, offset, size, Value(r)));
                    break;
                case 3 or 4:
                    ops.Add(new BusAccess((tag & 0x20) == 0, Address(r), r.Pick(new[] { 1, 2, 4, 8 }), r.U64()));
                    break;
                case 5:
                    ops.Add(new PortAccess((tag & 0x20) == 0, r.U8() % 8, r.Pick(new[] { 1, 2, 4 }), r.U32()));
                    break;
                case 6:
                    // Linux's 64-bit BAR programming: decoding off, low dword, high dword, decoding on.
                    int dev = r.U8() % PciFuzzBed.DeviceCount + 1, low = 4 + r.U8() % 5;
                    var address = Address(r);
                    uint command = r.Pick(new uint[] { 0x7, 0x6, 0x3, 0x2 });
                    ops.Add(new ConfigAccess(path, true, 0, dev, 0, new RegisterSpec(1, false), 0, 2, new ValueSpec(0, null)));
                    ops.Add(new ConfigAccess(path, true, 0, dev, 0, new RegisterSpec(low, false), 0, 4, new ValueSpec(0, address)));
                    ops.Add(new ConfigAccess(path, true, 0, dev, 0, new RegisterSpec(low + 1, false), 0, 4, new ValueSpec(0, address)));
                    ops.Add(new ConfigAccess(path, true, 0, dev, 0, new RegisterSpec(1, false), 0, 2, new ValueSpec(command, null)));
                    break;
                default:
                    ops.Add(new HostFence(r.U8() % PciFuzzBed.DeviceCount));
                    break;
            }
        }
        return [.. ops];
    }

    private static ValueSpec Value(ByteReader r)
    {
        byte kind = r.U8();
        return (kind % 4) switch
        {
            0 => new ValueSpec(r.Pick(Values), null),
            1 => new ValueSpec(r.U32(), null),
            _ => new ValueSpec(0, Address(r)),
        };
    }

    private static AddressSpec Address(ByteReader r) => (r.U8() % 5) switch
    {
        0 => new BarAddress(r.U8() % PciFuzzBed.DeviceCount, r.U8() % 4, r.Pick(Deltas)),
        1 => new WindowAddress(r.U8() % 3, r.U32(), r.Pick(AlignShifts), r.Pick(new ulong[] { 0, 0, 1, 4, 0x10, 0x800 })),
        2 => new AlignedForTarget(r.U8() % 3, r.U32()),
        3 => new FixedAddress(r.Pick(Addresses)),
        _ => new FixedAddress(r.U64()),
    };
}
