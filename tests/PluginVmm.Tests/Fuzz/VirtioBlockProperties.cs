using System.Buffers.Binary;
using System.Text;
using CsCheck;
using Microsoft.Extensions.Logging.Abstractions;
using PluginVmm.Plugins.VirtioBlock;
using PluginVmm.Sdk.Virtio;
using Xunit;
using Xunit.Abstractions;

namespace PluginVmm.Tests.Fuzz;

/// <summary>
/// Issue 7, target 3 (virtio-block): a hostile driver fills descriptor tables, avail rings and indirect tables with
/// anything (see <see cref="VirtqueueGen"/>) and kicks; the real virtio-block device over a real 16 KiB image file,
/// behind the real transport, must agree with a plain model after every kick: guest RAM byte for byte (so nothing
/// outside the buffers of the requests changed, used elements only for heads the guest made available, a status byte
/// for every request with a place for one), the image file byte for byte (it changes only where valid OUT and
/// WRITE_ZEROES requests asked; DISCARD is a hint and changes nothing), DEVICE_NEEDS_RESET exactly when the ring is
/// broken, and no access outside guest RAM.
/// <para><b>What counts as a case:</b> one operation (chain submitted, RAM scribbled, avail index moved, doorbell)
/// followed by the checks. <see cref="Inputs"/> runs of ~20 operations per default run (≥10^5 cases), times
/// PLUGINVMM_FUZZ_SCALE.</para>
/// </summary>
public sealed class VirtioBlockProperties(ITestOutputHelper output) : IDisposable
{
    public const int Inputs = 5000;
    public const int DiskSectors = 32;
    private const string Serial = "fuzz-serial-0123456789";

    private readonly string _path = Path.GetTempFileName();

    public void Dispose() => File.Delete(_path);

    private const uint In = 0, Out = 1, Flush = 4, GetId = 8, Discard = 11, WriteZeroes = 13;

    private static readonly Gen<ulong> Sector = Gen.Frequency(
        (8, Gen.Int[0, DiskSectors - 1].Select(s => (ulong)s)),
        (2, Gen.Int[DiskSectors - 3, DiskSectors + 2].Select(s => (ulong)s)),
        (1, Gen.OneOf(ulong.MaxValue, ulong.MaxValue >> 9, 1UL << 55, (ulong)uint.MaxValue)));

    private static readonly Gen<uint> DataLength = Gen.Frequency(
        (8, Gen.Int[0, 3].Select(n => (uint)n * 512)),
        (2, Gen.OneOf(1u, 16u, 511u, 513u, 1024u + 7, 8192u, 20u, 19u)),
        (1, Gen.OneOf(0x8000_0000u, uint.MaxValue)));

    private static readonly Gen<byte[]> Segments = Gen.Select(
        Gen.Frequency((6, Gen.Int[1, 3]), (1, Gen.OneOf(0, 32, 33))),
        Gen.Select(Sector, Gen.Frequency((5, Gen.Int[0, 8]), (1, Gen.OneOf(DiskSectors, 1 << 22, (1 << 22) + 1, -1))), Gen.Frequency((6, Gen.Const(0u)), (2, Gen.Const(1u)), (1, Gen.UInt)),
            (sector, count, flags) => (sector, count, flags)).Array[33],
        (n, segs) =>
        {
            var bytes = new byte[n * 16];
            for (int i = 0; i < n; i++)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(i * 16), segs[i].sector);
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i * 16 + 8), (uint)segs[i].count);
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i * 16 + 12), segs[i].flags);
            }
            return bytes;
        });

    /// <summary>A request as a driver lays it out (header, data, status), then hostile variations of the layout.</summary>
    private static Gen<VqOp> Request(int queue, int queueSize, bool indirect) =>
        Gen.Select(
            Gen.Frequency((4, Gen.Const(In)), (4, Gen.Const(Out)), (1, Gen.Const(Flush)), (1, Gen.Const(GetId)), (1, Gen.Const(Discard)), (2, Gen.Const(WriteZeroes)), (1, Gen.UInt)),
            Sector, DataLength, Gen.Int[1, 3], Segments, Gen.Byte.Array[0, 64],
            Gen.Frequency((10, Gen.Const(1u)), (1, Gen.OneOf(0u, 2u, 16u, 512u, 0x2_0000u, uint.MaxValue))),
            Gen.Frequency((8, Gen.Const(0)), (1, Gen.Const(1)), (1, Gen.Const(2)), (1, Gen.Const(3))),
            (type, sector, dataLength, pieces, segments, junk, statusLength, shape) =>
            {
                var header = new byte[16];
                BinaryPrimitives.WriteUInt32LittleEndian(header, type);
                BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(8), sector);
                bool discard = type is Discard or WriteZeroes;
                bool writableData = type is In or GetId;
                uint length = discard ? (uint)segments.Length : dataLength;
                var buffers = new List<(uint, bool)>();
                var readable = new List<byte>(header);
                if (shape == 1) buffers.AddRange([(8u, false), (8u, false)]);     // header split in two
                else if (shape != 2) buffers.Add((16u, false));                  // shape 2: no header buffer
                if (shape == 3) writableData = !writableData;                    // data the wrong way round
                uint left = length;
                for (int i = 0; i < pieces && left > 0; i++)
                {
                    uint n = i == pieces - 1 ? left : Math.Max(1, left / (uint)pieces);
                    buffers.Add((n, writableData));
                    left -= n;
                }
                if (!writableData) readable.AddRange(discard ? segments : junk);
                buffers.Add((statusLength, shape != 2 || statusLength != 1));
                return (buffers, readable.ToArray());
            })
        .SelectMany(r => VirtqueueGen.Submit(queue, r.buffers, r.Item2, queueSize, indirect));

    private static Gen<VirtqueueInput> Input() =>
        Gen.Select(
            VirtqueueGen.Features,
            Gen.Frequency((4, Gen.Const(false)), (1, Gen.Const(true))),
            VirtqueueGen.Rings(0), VirtqueueGen.Rings(1),
            (features, ro, q0, q1) => (features, ro, q0, q1))
        .SelectMany(s => Gen.Frequency(
                (48, Request(0, s.q0.Size, VirtqueueGen.IndirectNegotiated(s.features))), (6, Request(1, s.q1.Size, VirtqueueGen.IndirectNegotiated(s.features))),
                (24, VirtqueueGen.KickOp(4, 0)),
                (1, VirtqueueGen.PokeOp), (1, Gen.Frequency((1, VirtqueueGen.BumpOp(2)), (1, VirtqueueGen.KickOp(4, 0)))))
            .Array[5, 40]
            .Select(ops => new VirtqueueInput(s.features.Mask, s.features.Raw, s.ro, [s.q0, s.q1 with { Enable = s.q1.Enable && s.q1.Size % 2 == 0 }], ops)));

    [Fact]
    public void NoDescriptorTableOrRing_MakesTheBlockDeviceDisagreeWithTheModel()
    {
        var stats = new long[3];
        var reasons = new Dictionary<string, int>();
        long cases = PropertyRunner.Check("virtio-block-queues", seed: 0x7_0003, Input(), Inputs, input => input.Ops.Length + 4,
            input => Run(_path, input, stats, reasons), input => input.ToString(), output.WriteLine);
        output.WriteLine($"fuzz: virtio-block-queues: {stats[0]} requests completed, {stats[1]} runs ended in DEVICE_NEEDS_RESET, {stats[2]} image writes");
        output.WriteLine($"fuzz: {"virtio-block-queues"}: DEVICE_NEEDS_RESET reasons: {string.Join("; ", reasons.OrderByDescending(r => r.Value).Select(r => $"{r.Value}x {r.Key}"))}");
        // A generator that never gets a request through, or never breaks a ring, proves little.
        Assert.True(stats[0] > cases / 10 && stats[1] > Inputs * PropertyRunner.Scale / 20 && stats[2] > Inputs * PropertyRunner.Scale / 4,
            $"coverage too low: {string.Join(", ", stats)}");
        Assert.True(cases >= 100_000 * PropertyRunner.Scale, $"only {cases} cases ran");
    }

    /// <summary>Runs one input on a fresh device over a freshly written image; throws on the first broken invariant.</summary>
    internal static void Run(string imagePath, VirtqueueInput input, long[]? stats = null, Dictionary<string, int>? reasons = null)
    {
        using var bed = new BlockBed(imagePath, input);
        bed.RunAll(input.Ops, reasons);
        if (stats is null) return;
        stats[0] += bed.Completed;
        stats[1] += bed.ModelFailed ? 1 : 0;
        stats[2] += bed.DiskWrites;
    }

    private sealed class BlockBed : VirtioFuzzBed
    {
        private readonly string _path;
        private readonly Microsoft.Win32.SafeHandles.SafeFileHandle _file;
        private readonly byte[] _disk;
        private readonly byte[] _readBack = new byte[DiskSectors * 512];
        private readonly bool _readOnly;
        private readonly byte[] _id = new byte[20];

        public BlockBed(string path, VirtqueueInput input)
            : base(input, ctx => new VirtioBlockDevice(Initialise(path), input.ReadOnly, 4, Serial, NullLogger.Instance), 0x01)
        {
            _path = path;
            _readOnly = input.ReadOnly;
            _disk = File.ReadAllBytes(path);
            _file = File.OpenHandle(path);
            Encoding.ASCII.GetBytes(Serial[..20]).CopyTo(_id, 0);
        }

        public long DiskWrites { get; private set; }

        private static string Initialise(string path)
        {
            var bytes = new byte[DiskSectors * 512];
            for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)(i * 13 + (i >> 9) * 101 + 1);
            File.WriteAllBytes(path, bytes);
            return path;
        }

        private bool InDisk(ulong sector, ulong bytes) =>
            sector <= DiskSectors && bytes % 512 == 0 && bytes / 512 <= DiskSectors - sector;

        protected override uint Handle(int queue, VirtqueueModel model, ModelChain chain)
        {
            // The status byte is the last byte of the last device-writable buffer; no place for it: nothing is written.
            if (chain.Writable.Count == 0) return 0;
            var (address, length) = chain.Writable[^1];
            if (length == 0 || address > ulong.MaxValue - (length - 1) || !model.Contains(address + length - 1, 1)) return 0;
            ulong status = address + length - 1;
            ulong dataIn = chain.WritableLength - 1;
            var (code, written) = Execute(model, chain, dataIn);
            model.WriteByte(status, code);
            return written + 1;
        }

        private (byte Status, uint Written) Execute(VirtqueueModel model, ModelChain chain, ulong dataIn)
        {
            const byte Ok = 0, IoErr = 1, Unsupp = 2;
            if (chain.BufferError || chain.ReadableLength < 16) return (IoErr, 0);
            var header = model.Gather(chain.Readable, 0, 16);
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(header);
            ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(8));
            ulong dataOut = chain.ReadableLength - 16;
            switch (type)
            {
                case In:
                    if (!InDisk(sector, dataIn)) return (IoErr, 0);
                    model.Scatter(chain.Writable, 0, _disk.AsSpan((int)sector * 512, (int)dataIn));
                    return (Ok, (uint)dataIn);
                case Out:
                    if (_readOnly || dataIn != 0 || !InDisk(sector, dataOut)) return (IoErr, 0);
                    model.Gather(chain.Readable, 16, (int)dataOut).CopyTo(_disk, (int)sector * 512);
                    if (dataOut > 0) DiskWrites++;
                    return (Ok, 0);
                case Flush:
                    return (Ok, 0);
                case GetId:
                    int n = (int)Math.Min(dataIn, 20);
                    model.Scatter(chain.Writable, 0, _id.AsSpan(0, n));
                    return (Ok, (uint)n);
                case Discard or WriteZeroes:
                    if (_readOnly) return (IoErr, 0);
                    if (dataOut == 0 || dataOut % 16 != 0 || dataOut / 16 > 32) return (Unsupp, 0);
                    var segments = model.Gather(chain.Readable, 16, (int)dataOut);
                    for (int i = 0; i < segments.Length; i += 16)
                    {
                        ulong s = BinaryPrimitives.ReadUInt64LittleEndian(segments.AsSpan(i));
                        uint count = BinaryPrimitives.ReadUInt32LittleEndian(segments.AsSpan(i + 8));
                        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(segments.AsSpan(i + 12));
                        if ((flags & ~1u) != 0 || (type == Discard && flags != 0)) return (Unsupp, 0);
                        if (count > 1u << 22 || !InDisk(s, (ulong)count * 512)) return (IoErr, 0);
                    }
                    if (type == Discard) return (Ok, 0);
                    for (int i = 0; i < segments.Length; i += 16)
                    {
                        ulong s = BinaryPrimitives.ReadUInt64LittleEndian(segments.AsSpan(i));
                        uint count = BinaryPrimitives.ReadUInt32LittleEndian(segments.AsSpan(i + 8));
                        _disk.AsSpan((int)s * 512, (int)count * 512).Clear();
                        if (count > 0) DiskWrites++;
                    }
                    return (Ok, 0);
                default:
                    return (Unsupp, 0);
            }
        }

        public override void Dispose()
        {
            base.Dispose();
            _file.Dispose();
        }

        protected override void CheckHost(string when)
        {
            int n = RandomAccess.Read(_file, _readBack, 0);
            if (n != _disk.Length || RandomAccess.GetLength(_file) != _disk.Length)
                throw new FuzzInvariantException($"{when}: {_path} is {RandomAccess.GetLength(_file)} bytes, expected {_disk.Length}");
            int at = _readBack.AsSpan().CommonPrefixLength(_disk);
            if (at < _disk.Length)
                throw new FuzzInvariantException($"{when}: the image differs from the model at byte {at} (sector {at / 512}): {_readBack[at]:x2}, model {_disk[at]:x2}");
        }
    }
}
