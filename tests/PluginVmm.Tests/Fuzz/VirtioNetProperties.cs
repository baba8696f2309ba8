using System.Buffers.Binary;
using CsCheck;
using Microsoft.Extensions.Logging.Abstractions;
using PluginVmm.Plugins.VirtioNet;
using PluginVmm.Sdk.Virtio;
using Xunit;
using Xunit.Abstractions;

namespace PluginVmm.Tests.Fuzz;

/// <summary>
/// Issue 7, target 3 (virtio-net): the same hostile driver as <see cref="VirtioBlockProperties"/> on the real
/// virtio-net device over a recording backend (the TAP's place). After every kick and every received packet guest
/// RAM equals the model's (TX chains come back with length 0; an RX packet lands only in the writable buffers of the
/// chain it was given, with num_buffers = 1, or is dropped when it does not fit; with MRG_RXBUF it spreads over the
/// chains the device took ahead, num_buffers in the first, as <c>ReceiveMergeable</c> models), the backend received exactly the
/// frames of the valid TX chains (a chain with a buffer outside RAM, shorter than the 12-byte header or longer than
/// the largest packet sends nothing), DEVICE_NEEDS_RESET is set exactly when a ring is broken, the offloads passed
/// to the backend match the accepted features, and no access went outside guest RAM.
/// <para><b>What counts as a case:</b> one operation followed by the checks; <see cref="Inputs"/> runs of ~20
/// operations per default run (≥10^5 cases), times PLUGINVMM_FUZZ_SCALE. RX packets are handed over only while the
/// model says a buffer is available, and the run waits until the device is idle again, so each run is deterministic.</para>
/// </summary>
public sealed class VirtioNetProperties(ITestOutputHelper output)
{
    public const int Inputs = 5000;
    private const int MaxPacket = 12 + 65536 + 18;

    private static readonly Gen<uint> Piece = Gen.Frequency(
        (12, Gen.OneOf(12u, 14u, 60u, 64u, 1514u, 1526u, 2048u)),
        (6, Gen.Int[0, 200].Select(n => (uint)n)),
        (1, Gen.OneOf(0u, 11u, 33_000u, 40_000u, uint.MaxValue)));

    private static Gen<VqOp> Tx(int queueSize, bool indirect) =>
        Gen.Select(Piece.Array[1, 4], Gen.Frequency((30, Gen.Const(false)), (1, Gen.Const(true))), Gen.Byte.Array[0, 80],
                (pieces, oneWritable, bytes) =>
                    (Buffers: pieces.Select((p, i) => (p, oneWritable && i == pieces.Length - 1)).ToList(), Bytes: bytes))
            .SelectMany(t => VirtqueueGen.Submit(VirtioNetDevice.TxQueue, t.Buffers, t.Bytes, queueSize, indirect));

    private static Gen<VqOp> RxBuffers(int queueSize, bool indirect) =>
        Gen.Select(Piece.Array[1, 3], Gen.Frequency((30, Gen.Const(false)), (1, Gen.Const(true))),
                (pieces, oneReadable) => pieces.Select((p, i) => (p, !(oneReadable && i == 0))).ToList())
            .SelectMany(b => VirtqueueGen.Submit(VirtioNetDevice.RxQueue, b, [], queueSize, indirect));

    private static readonly Gen<VqOp> Packet = Gen.Select(
        Gen.Frequency((6, Gen.Int[12, 200]), (2, Gen.OneOf(1514, 1526, 2048, 4000)), (1, Gen.Int[1, 11])), Gen.Byte,
        (length, fill) =>
        {
            var p = new byte[length];
            for (int i = 0; i < length; i++) p[i] = (byte)(fill + i * 3);
            return (VqOp)new RxPacket(p);
        });

    private static Gen<VirtqueueInput> Input() =>
        Gen.Select(
            VirtqueueGen.Features,
            VirtqueueGen.Rings(0), VirtqueueGen.Rings(1), Gen.Frequency((1, Gen.Const(false)), (2, Gen.Const(true))),
            (features, rx, tx, rxEnabled) => (features, rx: rx with { Enable = rx.Enable && rxEnabled }, tx))
        .SelectMany(s => Gen.Frequency(
                (28, Tx(s.tx.Size, VirtqueueGen.IndirectNegotiated(s.features))), (16, RxBuffers(s.rx.Size, VirtqueueGen.IndirectNegotiated(s.features))),
                (14, Packet), (20, VirtqueueGen.KickOp(2, VirtioNetDevice.TxQueue)),
                (1, VirtqueueGen.PokeOp), (1, Gen.Frequency((1, VirtqueueGen.BumpOp(2)), (1, Packet))))
            .Array[5, 40]
            .Select(ops => new VirtqueueInput(s.features.Mask, s.features.Raw, false, [s.rx, s.tx], ops)));

    [Fact]
    public void NoDescriptorTableOrRing_MakesTheNetDeviceDisagreeWithTheModel()
    {
        var stats = new long[3];
        var reasons = new Dictionary<string, int>();
        long cases = PropertyRunner.Check("virtio-net-queues", seed: 0x7_0033, Input(), Inputs, input => input.Ops.Length + 2,
            input => Run(input, stats, reasons), input => input.ToString(), output.WriteLine);
        output.WriteLine($"fuzz: virtio-net-queues: {stats[0]} frames sent, {stats[1]} packets received, {stats[2]} runs ended in DEVICE_NEEDS_RESET");
        output.WriteLine($"fuzz: {"virtio-net-queues"}: DEVICE_NEEDS_RESET reasons: {string.Join("; ", reasons.OrderByDescending(r => r.Value).Select(r => $"{r.Value}x {r.Key}"))}");
        Assert.True(stats[0] > cases / 20 && stats[1] > cases / 100 && stats[2] > Inputs * PropertyRunner.Scale / 20, $"coverage too low: {string.Join(", ", stats)}");
        Assert.True(cases >= 100_000 * PropertyRunner.Scale, $"only {cases} cases ran");
    }

    internal static void Run(VirtqueueInput input, long[]? stats = null, Dictionary<string, int>? reasons = null)
    {
        using var bed = new NetBed(input);
        bed.RunAll(input.Ops, reasons);
        if (stats is null) return;
        stats[0] += bed.Sent;
        stats[1] += bed.Received;
        stats[2] += bed.ModelFailed ? 1 : 0;
    }

    private sealed class NetBed : VirtioFuzzBed
    {
        private static readonly byte[] Mac = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
        private readonly RecordingNetBackend _backend;
        private readonly List<byte[]> _expected = [];
        private readonly List<ModelChain> _held = [];
        private ulong _heldCapacity;

        public NetBed(VirtqueueInput input) : this(input, new RecordingNetBackend())
        {
        }

        private NetBed(VirtqueueInput input, RecordingNetBackend backend)
            : base(input, ctx => new VirtioNetDevice(backend, Mac, NullLogger.Instance), 0x02)
        {
            _backend = backend;
            uint offload = Active ? VirtioNetDevice.TunOffloads(Features) : RecordingNetBackend.NotSet;
            if (_backend.Offload != offload)
                throw new FuzzInvariantException($"offloads 0x{_backend.Offload:x} passed to the backend for features 0x{Features:x}, expected 0x{offload:x}");
        }

        public long Sent => _expected.Count;

        public long Received { get; private set; }

        protected override void RunModel(int queue, byte[] ram)
        {
            if (queue == VirtioNetDevice.TxQueue) base.RunModel(queue, ram);   // an RX kick only wakes the I/O thread
        }

        protected override uint Handle(int queue, VirtqueueModel model, ModelChain chain)
        {
            ulong length = chain.ReadableLength;
            if (!chain.BufferError && length >= 12 && length <= MaxPacket) _expected.Add(model.Gather(chain.Readable, 0, (int)length));
            return 0;
        }

        protected override void OtherStep(VqOp op)
        {
            if (op is not RxPacket p || !Active || ModelFailed || Model(VirtioNetDevice.RxQueue) is not { } model) return;
            var before = Memory.Bytes.ToArray();
            model.Memory = before;
            try
            {
                // A read of 0 bytes is no packet: the device goes back to waiting and touches nothing.
                bool mergeable = (Features & VirtioNetDevice.FeatureMrgRxbuf) != 0;
                if (!mergeable && p.Packet.Length > 0 && model.Pending == 0) return;   // the device would wait for a buffer: not handed over (see the summary)
                if (!mergeable && p.Packet.Length == 0)
                {
                    _backend.Deliver(p.Packet, () => (Transport.Status & VirtioStatus.DeviceNeedsReset) != 0);
                    CheckAgainst(before, "receive of 0 bytes");
                    return;
                }
                if ((Features & VirtioNetDevice.FeatureMrgRxbuf) != 0)
                {
                    if (!ReceiveMergeable(model, p.Packet)) return;
                }
                else
                {
                    var chain = model.Pop()!;
                    uint written = 0;
                    if (!chain.BufferError && chain.WritableLength >= (ulong)p.Packet.Length && p.Packet.Length >= 12)
                    {
                        var packet = p.Packet.ToArray();
                        BinaryPrimitives.WriteUInt16LittleEndian(packet.AsSpan(10), 1);   // num_buffers
                        written = (uint)model.Scatter(chain.Writable, 0, packet);
                        Received++;
                    }
                    model.AddUsed(chain.Head, written);
                }
            }
            catch (ModelRingBroken)
            {
                ModelFailed = true;
            }
            _backend.Deliver(p.Packet, () => (Transport.Status & VirtioStatus.DeviceNeedsReset) != 0);
            CheckAgainst(before, "receive");
        }

        // MRG_RXBUF (MergeableRxBuffers): chains are taken ahead until they hold the largest packet or the ring is
        // empty, unusable ones (a buffer outside RAM, less than the 12-byte header) handed back at once with length 0,
        // the rest held across packets. A packet is read into the held chains when they hold the largest packet (a
        // short one then leaves its bytes there but uses none), else copied in; it spreads over as many chains as it
        // needs, num_buffers in the first; then the device takes chains again for its next read, which finds nothing.
        // False (nothing done) when the device would wait for more buffers.
        private bool ReceiveMergeable(VirtqueueModel model, byte[] packet)
        {
            try
            {
                var trial = model.Clone();
                ulong held = _heldCapacity;
                Fill(trial, [.. _held], ref held);
                if (held < MaxPacket && packet.Length >= 12 && held < (ulong)packet.Length) return false;
            }
            catch (ModelRingBroken)
            {
                // the device breaks on the same ring: handed over, it fails
            }
            Fill(model, _held, ref _heldCapacity);
            bool direct = _heldCapacity >= MaxPacket;
            if (packet.Length == 0) return true;   // nothing read: the device polls again
            if (packet.Length < 12)
            {
                if (direct) model.Scatter(_held.SelectMany(c => c.Writable).ToList(), 0, packet);
                Fill(model, _held, ref _heldCapacity);   // after a packet it reads again before polling (finds none)
                return true;
            }
            // The device's order, which matters when hostile buffers overlap each other or the rings: the packet's
            // bytes into the chains, then num_buffers into the first, then the used elements.
            int used = 0;
            for (ulong left = (ulong)packet.Length; left > 0; used++) left -= Math.Min(left, _held[used].WritableLength);
            var shares = new uint[used];
            int done = 0;
            for (int i = 0; i < used; i++)
            {
                shares[i] = (uint)model.Scatter(_held[i].Writable, 0, packet.AsSpan(done));
                done += (int)shares[i];
            }
            var numBuffers = new byte[2];
            BinaryPrimitives.WriteUInt16LittleEndian(numBuffers, (ushort)used);
            model.Scatter(_held[0].Writable, 10, numBuffers);
            for (int i = 0; i < used; i++)
            {
                model.AddUsed(_held[i].Head, shares[i]);
                _heldCapacity -= _held[i].WritableLength;
            }
            _held.RemoveRange(0, used);
            Received++;
            Fill(model, _held, ref _heldCapacity);   // after a packet it reads again before polling (finds none)
            return true;
        }

        private static void Fill(VirtqueueModel model, List<ModelChain> held, ref ulong capacity)
        {
            while (capacity < MaxPacket && model.Pop() is { } chain)
            {
                if (chain.BufferError || chain.WritableLength < 12)
                {
                    model.AddUsed(chain.Head, 0);
                    continue;
                }
                held.Add(chain);
                capacity += chain.WritableLength;
            }
        }

        protected override void CheckHost(string when)
        {
            var sent = _backend.Sent;
            if (sent.Count != _expected.Count || sent.Zip(_expected).Any(p => !p.First.AsSpan().SequenceEqual(p.Second)))
                throw new FuzzInvariantException($"{when}: the backend got {sent.Count} frames ({string.Join(", ", sent.Select(s => s.Length))} bytes), " +
                    $"the model {_expected.Count} ({string.Join(", ", _expected.Select(s => s.Length))} bytes)");
        }

        public override void Dispose()
        {
            _backend.Close();
            base.Dispose();
        }
    }
}

/// <summary>
/// The TAP's place for the fuzzer: records every frame the device sends, and hands the I/O thread one packet at a
/// time, telling the caller when the device has finished with it (the thread is back waiting with nothing to read).
/// </summary>
internal sealed class RecordingNetBackend : INetBackend
{
    public const uint NotSet = 0xFFFF_FFFF;
    private readonly object _lock = new();
    private readonly Queue<byte[]> _toGuest = new();
    private long _reads, _idleAtReads;
    private bool _closed;

    public List<byte[]> Sent { get; } = [];

    public uint Offload { get; private set; } = NotSet;

    public void Write(ReadOnlySpan<byte> packet)
    {
        lock (_lock) Sent.Add(packet.ToArray());
    }

    public bool WaitReadable(int timeoutMs)
    {
        lock (_lock)
        {
            if (_closed) return false;
            if (_toGuest.Count == 0)
            {
                _idleAtReads = _reads;
                Monitor.PulseAll(_lock);
                Monitor.Wait(_lock, timeoutMs);
            }
            return _toGuest.Count > 0;
        }
    }

    public int Read(Span<byte> buffer)
    {
        lock (_lock)
        {
            if (!_toGuest.TryDequeue(out var packet)) return 0;
            _reads++;
            packet.CopyTo(buffer);
            return packet.Length;
        }
    }

    /// <summary>Hands over <paramref name="packet"/> and waits until the I/O thread took it and is idle again, or <paramref name="failed"/>.</summary>
    public void Deliver(byte[] packet, Func<bool> failed)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);   // a hang guard, not a timing assertion
        lock (_lock)
        {
            long target = _reads + 1;
            _toGuest.Enqueue(packet);
            Monitor.PulseAll(_lock);
            while (_idleAtReads < target && !failed())
            {
                if (DateTime.UtcNow > deadline) throw new FuzzInvariantException("the I/O thread did not take the packet within 30 s");
                Monitor.Wait(_lock, 1);
            }
        }
    }

    public void SetOffload(uint tunFlags) => Offload = tunFlags;

    /// <summary>Wakes the I/O thread for good, so a reset does not wait out its poll.</summary>
    public void Close()
    {
        lock (_lock)
        {
            _closed = true;
            Monitor.PulseAll(_lock);
        }
    }

    public void Dispose() => Close();
}
