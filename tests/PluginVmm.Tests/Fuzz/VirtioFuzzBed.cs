using System.Buffers.Binary;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Testing;
using PluginVmm.Sdk.Virtio;
using PluginVmm.Tests.Pci.Fakes;

namespace PluginVmm.Tests.Fuzz;

/// <summary>
/// One virtio device behind the real <see cref="VirtioPciTransport"/>, driven by a hostile driver over
/// <see cref="InMemoryGuestMemory"/> (RAM at <see cref="VirtqueueGen.RamBase"/>, filled with a fixed pattern so every
/// write shows), next to a <see cref="VirtqueueModel"/> per queue. Doorbells are BAR0 writes served on the calling
/// thread (no ioeventfds are offered), so a kick has finished when the write returns and each run is deterministic.
/// <para>
/// <see cref="Step"/> runs one operation; on a kick the model runs the same queue over a copy of RAM taken just before,
/// and afterwards RAM must equal the model's copy byte for byte (so the device wrote nothing but what the model
/// wrote: used elements for the heads it took, avail_event, data and status inside the buffers of the requests), the
/// device must have tried no access outside RAM, and DEVICE_NEEDS_RESET must be set exactly when the model found the
/// ring broken. The device-specific part (what a request does) is <see cref="Handle"/>.
/// </para>
/// </summary>
public abstract class VirtioFuzzBed : IDisposable
{
    private static readonly byte[] Pattern = MakePattern();

    private readonly VirtioPciDriver _driver;
    private readonly VirtqueueModel?[] _models;
    private readonly ushort[] _driverAvail, _driverNext;
    private readonly ushort[] _sizes;
    private readonly RingPlacement[] _rings;

    protected VirtioFuzzBed(VirtqueueInput input, Func<TestDeviceContext, IVirtioDevice> create, byte classCode)
    {
        Memory = new InMemoryGuestMemory((int)VirtqueueGen.RamSize, VirtqueueGen.RamBase);
        Pattern.CopyTo(Memory.Bytes, 0);
        // The driver zeroes its rings (and here the indirect tables' area) before handing them over.
        Array.Clear(Memory.Bytes, 0, (int)(VirtqueueGen.DataArea - VirtqueueGen.RamBase));
        var context = new TestDeviceContext(Memory) { Name = "fuzz0", Logger = Logger };
        context.FakeResources.SupportsIoEvents = false;
        Transport = new VirtioPciTransport(create(context), context, classCode, 0);
        _driver = new VirtioPciDriver(Transport, Memory);
        _rings = input.Rings;
        int queues = input.Rings.Length;
        _models = new VirtqueueModel?[queues];
        _driverAvail = new ushort[queues];
        _driverNext = new ushort[queues];
        _sizes = new ushort[queues];

        ulong wanted = input.RawFeatures ? input.Features : (input.Features & _driver.DeviceFeatures()) | VirtioFeatures.Version1;
        bool accepted = _driver.Negotiate(wanted, force: true);
        bool ringsValid = true;
        for (int q = 0; q < queues; q++)
        {
            var r = input.Rings[q];
            _driver.WriteCommon(0x16, (ulong)q, 2);
            _driver.WriteCommon(0x18, r.Size, 2);
            _sizes[q] = (ushort)_driver.ReadCommon(0x18, 2);   // a size the device refused reads back as the old one
            _driver.WriteCommon(0x20, r.Desc, 8);
            _driver.WriteCommon(0x28, (uint)r.Avail, 4);
            _driver.WriteCommon(0x2C, r.Avail >> 32, 4);
            _driver.WriteCommon(0x30, r.Used, 8);
            if (r.Enable) _driver.WriteCommon(0x1C, 1, 2);
            if (r.Enable && !VirtqueueModel.RingsValid(VirtqueueGen.RamBase, VirtqueueGen.RamSize, _sizes[q], r.Desc, r.Avail, r.Used)) ringsValid = false;
        }
        Features = accepted ? wanted : 0;
        _driver.DriverOk();
        Active = accepted && ringsValid;
        ModelFailed = accepted && !ringsValid;
        if (Active)
            for (int q = 0; q < queues; q++)
                if (input.Rings[q].Enable)
                    _models[q] = new VirtqueueModel(Memory.Bytes.ToArray(), VirtqueueGen.RamBase, _sizes[q], input.Rings[q].Desc, input.Rings[q].Avail,
                        input.Rings[q].Used, (Features & VirtioFeatures.RingEventIdx) != 0, (Features & VirtioFeatures.RingIndirectDesc) != 0);
        CheckAgainst(Memory.Bytes.ToArray(), "after setup", host: false);
    }

    public InMemoryGuestMemory Memory { get; }

    public CapturingLogger Logger { get; } = new();

    public VirtioPciTransport Transport { get; }

    /// <summary>The features the device accepted (0 when FEATURES_OK was refused).</summary>
    public ulong Features { get; }

    /// <summary>The queues run (DRIVER_OK with valid rings).</summary>
    public bool Active { get; }

    /// <summary>The model says the device must be in DEVICE_NEEDS_RESET.</summary>
    public bool ModelFailed { get; protected set; }

    /// <summary>Requests completed and chains refused, for the coverage counters.</summary>
    public long Completed { get; protected set; }

    protected VirtqueueModel? Model(int queue) => (uint)queue < (uint)_models.Length ? _models[queue] : null;

    private static byte[] MakePattern()
    {
        var bytes = new byte[VirtqueueGen.RamSize];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)(i * 31 + (i >> 8) * 7 + 0x5A);
        return bytes;
    }

    /// <summary>What the device does with one chain popped from <paramref name="queue"/>; returns the used length.</summary>
    protected abstract uint Handle(int queue, VirtqueueModel model, ModelChain chain);

    /// <summary>Device-specific state checked after each step (disk contents, frames sent).</summary>
    protected abstract void CheckHost(string when);

    /// <summary>Runs one operation and checks every invariant.</summary>
    public void Step(VqOp op)
    {
        switch (op)
        {
            case SubmitChain s:
                Submit(s);
                break;
            case Poke p:
                if (Memory.Contains(p.Address, (ulong)p.Bytes.Length)) Memory.Write(p.Address, p.Bytes);
                break;
            case BumpAvail b:
                if (b.Queue < _rings.Length && Memory.Contains(_rings[b.Queue].Avail + 2, 2))
                {
                    _driverAvail[b.Queue] += b.Delta;
                    Memory.WriteU16(_rings[b.Queue].Avail + 2, _driverAvail[b.Queue]);
                }
                break;
            case Kick k:
                var before = Memory.Bytes.ToArray();
                RunModel(k.Queue, before);
                _driver.Kick(k.Queue, forceMmio: true);
                CheckAgainst(before, $"kick of queue {k.Queue}");
                break;
            default:
                OtherStep(op);
                break;
        }
    }

    /// <summary>Device-specific operations (RX packets).</summary>
    protected virtual void OtherStep(VqOp op)
    {
    }

    /// <summary>Runs the model of <paramref name="queue"/> over <paramref name="ram"/> as the device should on a kick.</summary>
    protected virtual void RunModel(int queue, byte[] ram)
    {
        if (ModelFailed || Model(queue) is not { } model) return;
        model.Memory = ram;
        try
        {
            while (model.Pop() is { } chain)
            {
                model.AddUsed(chain.Head, Handle(queue, model, chain));
                Completed++;
            }
        }
        catch (ModelRingBroken)
        {
            ModelFailed = true;
        }
    }

    /// <summary>RAM equals <paramref name="expected"/> (the model's copy); nothing outside RAM was tried; the status agrees.</summary>
    protected void CheckAgainst(byte[] expected, string when, bool host = true)
    {
        if (Memory.Refused != 0) throw new FuzzInvariantException($"{when}: the device tried {Memory.Refused} accesses outside guest RAM");
        var actual = Memory.Bytes;
        int at = actual.AsSpan().CommonPrefixLength(expected);
        if (at < actual.Length)
        {
            int last = actual.Length - 1;
            while (actual[last] == expected[last]) last--;
            throw new FuzzInvariantException($"{when}: guest RAM differs from the model at 0x{VirtqueueGen.RamBase + (ulong)at:x}..0x{VirtqueueGen.RamBase + (ulong)last:x}: " +
                $"device wrote {Convert.ToHexString(actual, at, Math.Min(16, last - at + 1))}, model {Convert.ToHexString(expected, at, Math.Min(16, last - at + 1))}{Reason()}");
        }
        bool needsReset = (Transport.Status & VirtioStatus.DeviceNeedsReset) != 0;
        if (needsReset != ModelFailed)
            throw new FuzzInvariantException($"{when}: DEVICE_NEEDS_RESET is {(needsReset ? "set" : "clear")}, the model says {(ModelFailed ? "broken ring" : "working")}{Reason()}");
        if (host) CheckHost(when);
    }

    /// <summary>Why the device said it needs a reset (its log line, numbers dropped), for the coverage histogram.</summary>
    public string? ResetReason =>
        Logger.Entries.Select(e => e.Message).FirstOrDefault(m => m.Contains("needs reset")) is { } m
            ? System.Text.RegularExpressions.Regex.Replace(m[(m.IndexOf("needs reset") + 13)..], @"\b(0x[0-9a-f]+|\d+)\b", "N") : null;

    private string Reason() => Logger.Entries.Count == 0 ? "" : " (device log: " + string.Join("; ", Logger.Entries.Select(e => e.Message)) + ")";

    /// <summary>
    /// Runs <paramref name="ops"/> then <see cref="Finish"/>, naming the operation after which an invariant broke; counts
    /// why the device needed a reset in <paramref name="reasons"/>.
    /// </summary>
    public void RunAll(VqOp[] ops, Dictionary<string, int>? reasons)
    {
        for (int i = 0; i < ops.Length; i++)
        {
            try
            {
                Step(ops[i]);
            }
            catch (FuzzInvariantException e)
            {
                throw new FuzzInvariantException($"after operation {i} ({ops[i]}): {e.Message}");
            }
        }
        Finish();
        if (ResetReason is { } why && reasons is not null) reasons[why] = reasons.GetValueOrDefault(why) + 1;
    }

    /// <summary>
    /// After the last operation, one more kick per queue. With the RAM comparison this makes every available chain
    /// come back on the used ring (the model takes all of them) unless the device needs a reset.
    /// </summary>
    public void Finish()
    {
        for (int q = 0; q < _rings.Length; q++) Step(new Kick(q));
    }

    private void Submit(SubmitChain s)
    {
        if (s.Queue >= _rings.Length) return;
        var ring = _rings[s.Queue];
        ushort size = _sizes[s.Queue];
        // Readable bytes go into the readable buffers (the parts in RAM), as the driver filled them before publishing.
        int done = 0;
        foreach (var d in s.Descs)
        {
            if ((d.Flags & 2) != 0 || done >= s.ReadableBytes.Length) continue;
            int n = (int)Math.Min(d.Length, (uint)(s.ReadableBytes.Length - done));
            if (Memory.Contains(d.Address, (ulong)n)) Memory.Write(d.Address, s.ReadableBytes.AsSpan(done, n));
            done += n;
        }
        ushort head = _driverNext[s.Queue];
        if (s.IndirectTable is { } table)
        {
            for (int i = 0; i < s.Descs.Length; i++) WriteDesc(table + 16UL * (ulong)i, s.Descs[i]);
            long length = Math.Max(0, 16L * s.Descs.Length + s.IndirectLengthDelta);
            WriteDesc(DescSlot(ring, head), new Desc(table, (uint)length, 4, 0));
            _driverNext[s.Queue] = (ushort)((head + 1) % size);
        }
        else
        {
            for (int i = 0; i < s.Descs.Length; i++)
            {
                var d = s.Descs[i];
                ushort slot = (ushort)((head + i) % size);
                // Auto next (i + 1) means the following slot; a mutated next is written as generated.
                ushort next = d.Next == i + 1 ? (ushort)((head + i + 1) % size) : d.Next;
                WriteDesc(DescSlot(ring, slot), d with { Next = next });
            }
            _driverNext[s.Queue] = (ushort)((head + Math.Max(1, s.Descs.Length)) % size);
        }
        if (!s.Publish) return;
        // A driver publishes no more chains than the queue has room for (overruns come from BumpAvail).
        if (Memory.Contains(ring.Used + 2, 2) && (ushort)(_driverAvail[s.Queue] - Memory.ReadU16(ring.Used + 2)) >= size) return;
        ulong entry = ring.Avail + 4 + 2UL * (ulong)(_driverAvail[s.Queue] % size);
        if (Memory.Contains(entry, 2)) Memory.WriteU16(entry, head);
        _driverAvail[s.Queue]++;
        if (Memory.Contains(ring.Avail + 2, 2)) Memory.WriteU16(ring.Avail + 2, _driverAvail[s.Queue]);
    }

    private static ulong DescSlot(RingPlacement ring, ushort slot) => ring.Desc + 16UL * slot;

    private void WriteDesc(ulong at, Desc d)
    {
        if (!Memory.Contains(at, 16)) return;
        Span<byte> b = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(b, d.Address);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], d.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(b[12..], d.Flags);
        BinaryPrimitives.WriteUInt16LittleEndian(b[14..], d.Next);
        Memory.Write(at, b);
    }

    public virtual void Dispose()
    {
        Transport.Dispose();
        GC.SuppressFinalize(this);
    }
}
