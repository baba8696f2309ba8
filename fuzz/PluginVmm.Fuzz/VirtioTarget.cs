using PluginVmm.Tests.Fuzz;

namespace PluginVmm.Fuzz;

/// <summary>
/// Target 3: the input is a hostile virtio driver's run on virtio-block (a real image file) or virtio-net (a recording
/// backend), checked against the model after every kick exactly as in VirtioBlockProperties / VirtioNetProperties.
/// Header: device and read-only bits, the feature mask, both queues' sizes and enables; then operations: chains
/// (descriptors with any address, length and flags, direct or through an indirect table), raw writes anywhere in RAM
/// (rings included), avail-index jumps, doorbells and (net) received packets. The encoding is in <see cref="Decode"/>.
/// </summary>
internal static class VirtioTarget
{
    private const int MaxOperations = 64;

    private static readonly uint[] Lengths = [16, 1, 512, 1024, 8, 12, 14, 64, 1514, 20, 0, 511, 0x2_0000, uint.MaxValue];

    public static void Run(byte[] input, string image)
    {
        var (net, decoded) = Decode(input);
        if (net) VirtioNetProperties.Run(decoded);
        else VirtioBlockProperties.Run(image, decoded);
    }

    public static (bool Net, VirtqueueInput Input) Decode(byte[] input)
    {
        var r = new ByteReader(input);
        byte head = r.U8();
        bool net = (head & 1) != 0, readOnly = (head & 2) != 0, raw = (head & 4) != 0;
        ulong features = r.U64();
        int queues = net ? 3 : 5;   // doorbells beyond the last queue too
        var rings = new RingPlacement[2];
        for (int q = 0; q < 2; q++)
        {
            byte s = r.U8();
            ushort size = s < 0xF0 ? (ushort)(1 << (s % 5)) : r.Pick(new ushort[] { 0, 3, 32, 256, 512, 0xFFFF });
            rings[q] = new RingPlacement(size, VirtqueueGen.DescAddress(q), VirtqueueGen.AvailAddress(q), VirtqueueGen.UsedAddress(q), (head & (8 << q)) == 0);
        }
        var ops = new List<VqOp>();
        while (r.More && ops.Count < MaxOperations)
        {
            byte tag = r.U8();
            switch (tag % 6)
            {
                case 0 or 1:
                    ops.Add(Chain(r, tag));
                    break;
                case 2:
                    ops.Add(new Kick((tag >> 3) % queues));
                    break;
                case 3:
                    ulong at = (tag & 0x80) != 0 ? VirtqueueGen.RamBase + r.U16() % VirtqueueGen.RamSize : VirtqueueGen.RamBase + r.U16() % 0x3000u;
                    ops.Add(new Poke(at, r.Bytes(1 + r.U8() % 16)));
                    break;
                case 4:
                    ops.Add(new BumpAvail((tag >> 3) & 1, r.U16()));
                    break;
                default:
                    int length = r.U8() < 0xF0 ? 12 + r.U8() : r.U16();
                    var packet = new byte[length];
                    byte fill = r.U8();
                    for (int i = 0; i < length; i++) packet[i] = (byte)(fill + i);
                    ops.Add(new RxPacket(packet));
                    break;
            }
        }
        return (net, new VirtqueueInput(features, raw, readOnly, rings, [.. ops]));
    }

    private static VqOp Chain(ByteReader r, byte tag)
    {
        int queue = (tag >> 3) & 1;
        int count = 1 + r.U8() % 5;
        var descs = new Desc[count];
        for (int i = 0; i < count; i++)
        {
            byte kind = r.U8();
            ulong address = (kind % 4) switch
            {
                0 or 1 => VirtqueueGen.DataArea + (ulong)r.U16() % (VirtqueueGen.RamBase + VirtqueueGen.RamSize - VirtqueueGen.DataArea),
                2 => VirtqueueGen.RamBase + r.U16(),
                _ => r.U64(),
            };
            uint length = (kind & 0x10) != 0 ? r.U32() : r.Pick(Lengths);
            bool writable = (kind & 0x20) != 0;
            ushort flags = (kind & 0x40) != 0 ? (ushort)(r.U8() % 8) : (ushort)((writable ? 2 : 0) | (i + 1 < count ? 1 : 0));
            ushort next = (kind & 0x80) != 0 ? r.U16() : (ushort)(i + 1);
            descs[i] = new Desc(address, length, flags, next);
        }
        byte mode = r.U8();
        ulong? table = (mode & 1) != 0 ? VirtqueueGen.IndirectArea + (ulong)(mode >> 4) * 0x100 + ((mode & 2) != 0 ? 8u : 0u) : null;
        int delta = (mode & 4) != 0 ? (sbyte)r.U8() : 0;
        var readable = r.Bytes(r.U8() % 64);
        return new SubmitChain(queue, descs, readable, table, delta, (mode & 8) == 0);
    }
}
