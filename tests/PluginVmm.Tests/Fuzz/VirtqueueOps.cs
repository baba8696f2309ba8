using CsCheck;

namespace PluginVmm.Tests.Fuzz;

/// <summary>One descriptor as the hostile driver writes it (flags and next are written as given).</summary>
public readonly record struct Desc(ulong Address, uint Length, ushort Flags, ushort Next)
{
    public override string ToString() => $"[0x{Address:x}+0x{Length:x} f{Flags} n{Next}]";
}

/// <summary>A guest operation on the virtqueues of one device.</summary>
public abstract record VqOp;

/// <summary>
/// Writes <see cref="ReadableBytes"/> into the readable buffers, the descriptors at the queue's next free slots (or
/// into an indirect table at <see cref="IndirectTable"/> with a head descriptor of length 16·n + <see cref="IndirectLengthDelta"/>),
/// and publishes the head on the avail ring (unless <see cref="Publish"/> is false).
/// </summary>
public sealed record SubmitChain(int Queue, Desc[] Descs, byte[] ReadableBytes, ulong? IndirectTable, int IndirectLengthDelta, bool Publish) : VqOp
{
    public override string ToString() =>
        $"submit q{Queue} {string.Join(" ", Descs)}{(IndirectTable is { } t ? $" indirect@0x{t:x}{IndirectLengthDelta:+#;-#;+0}" : "")} bytes {Convert.ToHexString(ReadableBytes)}{(Publish ? "" : " unpublished")}";
}

/// <summary>Writes bytes anywhere in RAM (ring fields included): the guest scribbling.</summary>
public sealed record Poke(ulong Address, byte[] Bytes) : VqOp
{
    public override string ToString() => $"poke 0x{Address:x} {Convert.ToHexString(Bytes)}";
}

/// <summary>Moves the avail index by <see cref="Delta"/> without writing ring entries.</summary>
public sealed record BumpAvail(int Queue, ushort Delta) : VqOp;

/// <summary>Rings queue <see cref="Queue"/>'s doorbell (a BAR0 write, served on this thread).</summary>
public sealed record Kick(int Queue) : VqOp;

/// <summary>The host backend hands the guest one packet (virtio-net RX).</summary>
public sealed record RxPacket(byte[] Packet) : VqOp
{
    public override string ToString() => $"rx packet {Packet.Length} bytes";
}

/// <summary>Where the driver puts one queue's rings (normally the fixed layout; sometimes hostile).</summary>
public sealed record RingPlacement(ushort Size, ulong Desc, ulong Avail, ulong Used, bool Enable);

/// <summary>A whole hostile-driver run on one device.</summary>
/// <param name="Features">The features the driver accepts: <c>offered &amp; Features | VERSION_1</c>, or with
/// <paramref name="RawFeatures"/> exactly these bits (usually refused).</param>
public sealed record VirtqueueInput(ulong Features, bool RawFeatures, bool ReadOnly, RingPlacement[] Rings, VqOp[] Ops)
{
    public override string ToString() =>
        $"features {(RawFeatures ? "exactly" : "offered &")} 0x{Features:x}{(ReadOnly ? " read-only" : "")}\n" +
        string.Join("\n", Rings.Select((r, i) => $"  queue {i}: size {r.Size} desc 0x{r.Desc:x} avail 0x{r.Avail:x} used 0x{r.Used:x}{(r.Enable ? "" : " disabled")}")) + "\n" +
        string.Join("\n", Ops.Select((op, i) => $"  {i}: {op}"));
}

/// <summary>
/// Generators for hostile virtqueue traffic over guest RAM [<see cref="RamBase"/>, +<see cref="RamSize"/>): queue q's
/// rings at RamBase + 0x1000·q (descriptors, avail +0x400, used +0x800), indirect tables from +0x2000, buffers from
/// +0x3000. Buffers are mostly in the data area, sometimes straddling the end of RAM, outside it, wrapping past
/// 2^64 into it, or on top of the rings; flags and next indices are sometimes arbitrary; indirect tables sometimes
/// misaligned, empty, nested or too long; avail indices sometimes jump.
/// </summary>
public static class VirtqueueGen
{
    public const ulong RamBase = 0x1_0000, RamSize = 0x1_0000;
    public const ulong IndirectArea = RamBase + 0x2000, DataArea = RamBase + 0x3000;

    public static ulong DescAddress(int queue) => RamBase + 0x1000UL * (ulong)queue;

    public static ulong AvailAddress(int queue) => DescAddress(queue) + 0x400;

    public static ulong UsedAddress(int queue) => DescAddress(queue) + 0x800;

    private static readonly Gen<ushort> QueueSize = Gen.Frequency(
        (40, Gen.OneOf<ushort>(1, 2, 4, 8, 16, 16, 8)),
        (1, Gen.OneOf<ushort>(0, 3, 12, 32, 256, 512, 0xFFFF)));

    /// <summary>The rings of queue <paramref name="queue"/>: the fixed layout, or (1 in 12) hostile addresses.</summary>
    public static Gen<RingPlacement> Rings(int queue) =>
        Gen.Select(QueueSize, Gen.Frequency((30, Gen.Const(0)), (1, Gen.Int[1, 6])), Gen.Frequency((12, Gen.Const(true)), (1, Gen.Const(false))),
            Gen.OneOf(0UL, 1UL, 2UL, 0x400UL, RamSize - 0x10, RamSize, 0x1_0000_0000UL, ulong.MaxValue - 0xF),
            (size, hostile, enable, wild) => hostile switch
            {
                0 => new RingPlacement(size, DescAddress(queue), AvailAddress(queue), UsedAddress(queue), enable),
                1 => new RingPlacement(size, DescAddress(queue) + wild, AvailAddress(queue), UsedAddress(queue), enable),
                2 => new RingPlacement(size, DescAddress(queue), AvailAddress(queue) + wild, UsedAddress(queue), enable),
                3 => new RingPlacement(size, DescAddress(queue), AvailAddress(queue), UsedAddress(queue) + wild, enable),
                4 => new RingPlacement(size, DescAddress(queue), DescAddress(queue), DescAddress(queue), enable),
                5 => new RingPlacement(size, unchecked(RamBase + wild), unchecked(RamBase + wild), unchecked(RamBase + wild), enable),
                _ => new RingPlacement(size, 0, 0, 0, enable),
            });

    /// <summary>Where a buffer of a given length goes: a function of its length, chosen by the generator.</summary>
    public static readonly Gen<Func<uint, ulong>> BufferAddress = Gen.Frequency(
        (150, Gen.Int[0, (int)(RamBase + RamSize - DataArea) / 16 - 1].Select(i => (Func<uint, ulong>)(_ => DataArea + (ulong)i * 16))),
        (3, Gen.Int[0, 64].Select(back => (Func<uint, ulong>)(length => RamBase + RamSize - length + (ulong)back))), // ends at or past the end of RAM
        (2, Gen.OneOf(0UL, RamBase - 1, RamBase + RamSize, 0xFFFF_FFFF_0000_0000UL, ulong.MaxValue).Select(a => (Func<uint, ulong>)(_ => a))), // outside RAM
        (1, Gen.Int[0, 0x40].Select(i => (Func<uint, ulong>)(length => unchecked(RamBase + (ulong)i * 16 - length + 1)))), // wraps past 2^64 when RamBase < length
        (1, Gen.Int[0, 0x2F0].Select(i => (Func<uint, ulong>)(_ => RamBase + (ulong)i * 16))),                     // on the rings / indirect tables
        (1, Gen.Int[0, (int)RamSize - 1].Select(i => (Func<uint, ulong>)(_ => RamBase + (ulong)i))));              // anywhere, unaligned

    /// <summary>A chain of buffers (readable first, then writable) turned into descriptors, sometimes with flags or next mutated.</summary>
    public static Gen<Desc[]> Descriptors(IReadOnlyList<(uint Length, bool Writable)> buffers, int queueSize) =>
        Gen.Select(
            BufferAddress.Array[buffers.Count],
            Gen.Frequency((30, Gen.Const(-1)), (1, Gen.Int[0, Math.Max(0, buffers.Count - 1)])),
            Gen.OneOf<ushort>(0, 1, 2, 3, 4, 5, 6, 7, 0xFFFF),
            Gen.Frequency((3, Gen.Int[0, queueSize + 1].Select(n => (ushort)n)), (1, Gen.UShort)),
            (addresses, mutate, flags, next) =>
            {
                var descs = new Desc[buffers.Count];
                for (int i = 0; i < buffers.Count; i++)
                {
                    ushort f = (ushort)((buffers[i].Writable ? 2 : 0) | (i + 1 < buffers.Count ? 1 : 0));
                    descs[i] = new Desc(addresses[i](buffers[i].Length), buffers[i].Length, f, (ushort)(i + 1));
                }
                if (mutate >= 0 && buffers.Count > 0)
                {
                    var d = descs[mutate];
                    descs[mutate] = flags == 0xFFFF ? d with { Next = next } : d with { Flags = flags, Next = next };
                }
                return descs;
            });

    /// <summary>
    /// A submitted chain of <paramref name="buffers"/> with <paramref name="readable"/> bytes: direct (most), or through
    /// an indirect table (in the indirect area, sometimes misaligned or elsewhere, with a length sometimes off).
    /// </summary>
    public static Gen<VqOp> Submit(int queue, IReadOnlyList<(uint Length, bool Writable)> buffers, byte[] readable, int queueSize, bool indirect) =>
        Gen.Select(Descriptors(buffers, queueSize),
            Gen.Frequency((indirect ? 12 : 40, Gen.Const(default(ulong?))), (indirect ? 6 : 0, Gen.Int[0, 15].Select(i => (ulong?)(IndirectArea + (ulong)i * 0x100))),
                (1, Gen.OneOf<ulong?>(IndirectArea + 4, IndirectArea + 8, RamBase + RamSize - 16, 0, DescAddress(queue), IndirectArea))),
            Gen.Frequency((30, Gen.Const(0)), (1, Gen.OneOf(-16, -1, 1, 16, 0x1000, -16 * buffers.Count))),
            Gen.Frequency((40, Gen.Const(true)), (1, Gen.Const(false))),
            (d, table, delta, publish) => (VqOp)new SubmitChain(queue, d, readable, table, delta, publish));

    public static readonly Gen<VqOp> PokeOp = Gen.Select(
        Gen.Frequency((3, Gen.Int[0, 0x2FFF]), (1, Gen.Int[0, (int)RamSize - 1])),
        Gen.Byte.Array[1, 8], (offset, bytes) => (VqOp)new Poke(RamBase + (ulong)offset, bytes));

    public static Gen<VqOp> BumpOp(int queues) =>
        Gen.Select(Gen.Int[0, queues - 1], Gen.OneOf<ushort>(1, 2, 15, 16, 17, 256, 0x8000, 0xFFFF), (q, d) => (VqOp)new BumpAvail(q, d));

    /// <summary>(mask, raw): mostly a subset of what the device offers, sometimes arbitrary bits.</summary>
    public static readonly Gen<(ulong Mask, bool Raw)> Features = Gen.Frequency(
        (20, Gen.ULong.Select(m => (m, false))),
        (1, Gen.ULong.Select(m => (m, true))));

    /// <summary>The driver may use indirect tables with these features (it mostly does only then).</summary>
    public static bool IndirectNegotiated((ulong Mask, bool Raw) features) =>
        !features.Raw && (features.Mask & PluginVmm.Sdk.Virtio.VirtioFeatures.RingIndirectDesc) != 0;

    public static Gen<VqOp> KickOp(int queues, int usual) =>
        Gen.Frequency((8, Gen.Const(usual)), (1, Gen.Int[0, queues])).Select(q => (VqOp)new Kick(q));
}
