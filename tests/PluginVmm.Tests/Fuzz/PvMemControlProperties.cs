using System.Buffers.Binary;
using CsCheck;
using PluginVmm.Plugins.PvMemControl;
using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Testing;
using Xunit;
using Xunit.Abstractions;

namespace PluginVmm.Tests.Fuzz;

/// <summary>
/// Issue 7, target 4 (pvmemcontrol): any BAR0 access (any offset, size and value: transport commands, connection ids,
/// payload bytes) and any 32 bytes in the request buffers, with buffers registered anywhere (inside RAM, straddling
/// its end, outside it, overlapping), against the device created through its plugin over a
/// <see cref="RecordingMemoryControl"/> that checks nothing itself. After every access: no exception escaped; the
/// transport registers read what a plain model of the protocol's state machine says; every host call is a page range
/// wholly inside guest RAM and is the one a valid request asked for (so every other request got an error response:
/// EOPNOTSUPP, EINVAL, ENOSYS, or the host's errno); guest RAM changed only in the served request's 32-byte buffer and
/// in the ranges the host zeroed for DONTNEED/REMOVE.
/// <para><b>What counts as a case:</b> one access followed by the checks; <see cref="Sequences"/> sequences of 1..30
/// chunks (a driver connecting, a request served, or any single access) per default run (≥10^5), times PLUGINVMM_FUZZ_SCALE.</para>
/// </summary>
public sealed class PvMemControlProperties(ITestOutputHelper output)
{
    public const int Sequences = 3500;
    private const ulong RamBase = 0x1_0000, RamSize = 0x1_0000, Page = 4096;
    private const uint Reset = 0x060F_E6D2, Register = 0x0E35_9539, Ready = 0x0CA8_D227, Disconnect = 0x030F_5DA0,
        Ack = 0x03CF_5196, Error = 0x01FB_A249, First = 0x8000_0000;

    public abstract record Op;

    public sealed record BarWrite(int Index, ulong Offset, byte[] Data) : Op
    {
        public override string ToString() => $"write BAR{Index}+0x{Offset:x} {Convert.ToHexString(Data)}";
    }

    public sealed record BarRead(int Index, ulong Offset, int Length) : Op;

    public sealed record GuestRequest(ulong Buffer, ulong Function, ulong Address, ulong Length, ulong Arg) : Op;

    public sealed record HostFails(int Errno) : Op;

    /// <summary>Where the guest's request buffers usually are: registered in this order, slot k gets id First + k.</summary>
    private static readonly ulong[] Slots = [RamBase + 0x800, RamBase + 0x900, RamBase + 0x2FF0, RamBase + RamSize - 32];

    private static readonly Gen<ulong> BufferAddress = Gen.Frequency(
        (8, Gen.Int[0, 15].Select(i => RamBase + 0x800 + (ulong)i * 0x100)),
        (2, Gen.OneOf(RamBase, RamBase + RamSize - 32, RamBase + RamSize - 31, RamBase + RamSize, RamBase - 32, RamBase - 1, 0UL,
            ulong.MaxValue - 15, RamBase + 0x803, RamBase + 0x810)));

    private static readonly Gen<uint> Command = Gen.Frequency(
        (10, Gen.OneOf(Reset, Register, Ready)),
        (2, Gen.OneOf(Disconnect, Ack, Error)),
        (10, Gen.Int[0, 5].Select(i => First + (uint)i)),
        (1, Gen.OneOf(0u, 0x7FFF_FFFFu, 0xFFFF_FFFFu, First + 4096, First - 1)),
        (1, Gen.UInt));

    private static byte[] Le(ulong value, int length)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        return b[..length];
    }

    private static readonly Gen<Op> Single = Gen.Frequency<Op>(
        (10, Command.Select(c => (Op)new BarWrite(0, 8, Le(c, 4)))),
        (6, BufferAddress.Select(a => (Op)new BarWrite(0, 0, Le(a, 8)))),
        (2, Gen.Select(Gen.Frequency((4, Gen.Const(0)), (1, Gen.Int[1, 5])), Gen.Frequency((3, Gen.Int[0, 16].Select(o => (ulong)o)), (1, Gen.ULong)),
            Gen.Byte.Array[0, 9], (i, o, d) => (Op)new BarWrite(i, o, d))),
        (2, Gen.Select(Gen.Frequency((4, Gen.Const(0)), (1, Gen.Int[1, 5])), Gen.Frequency((3, Gen.Int[0, 20].Select(o => (ulong)o)), (1, Gen.ULong)),
            Gen.Int[0, 16], (i, o, l) => (Op)new BarRead(i, o, l))),
        (10, Gen.Select(BufferAddress,
            Gen.Frequency((8, Gen.Int[0, 14].Select(f => (ulong)f)), (1, Gen.OneOf(15UL, 0x1_0000_0001UL, ulong.MaxValue))),
            Gen.Frequency((6, Gen.Int[0, 15].Select(p => RamBase + (ulong)p * Page)), (1, Gen.OneOf(RamBase + 1, RamBase - Page, RamBase + RamSize, 0UL, 0xFFFF_FFFF_FFFF_F000UL, 0xFEE0_0000UL))),
            Gen.Frequency((6, Gen.Int[1, 4].Select(n => (ulong)n * Page)), (1, Gen.OneOf(0UL, 1UL, Page - 1, RamSize, RamSize + Page, 0xFFFF_FFFF_FFFF_F000UL, 1UL << 63))),
            Gen.Frequency((3, Gen.Const(0UL)), (1, Gen.ULong)),
            (b, f, a, l, arg) => (Op)new GuestRequest(b, f, a, l, arg))),
        (1, Gen.OneOf(GuestErrno.ENOMEM, GuestErrno.EFAULT, GuestErrno.EPERM, 4242).Select(e => (Op)new HostFails(e))));

    private static Op Cmd(uint value) => new BarWrite(0, 8, Le(value, 4));

    /// <summary>What a guest driver does: Reset, register 1..4 buffers (mostly the usual slots, in order), Ready.</summary>
    private static readonly Gen<Op[]> Connect = Gen.Select(
        Gen.Frequency((6, Gen.Const(-1)), (1, Gen.Int[0, 3])), Gen.Int[1, Slots.Length], BufferAddress,
        (odd, n, other) => new[] { Cmd(Reset) }
            .Concat(Enumerable.Range(0, n).SelectMany(k => new[] { (Op)new BarWrite(0, 0, Le(k == odd ? other : Slots[k], 8)), Cmd(Register) }))
            .Append(Cmd(Ready)).ToArray());

    /// <summary>A request written into slot k's buffer, then connection First + k rung.</summary>
    private static readonly Gen<Op[]> Serve = Gen.Select(Gen.Int[0, Slots.Length - 1], Single.Where(op => op is GuestRequest),
        (k, r) => new[] { ((GuestRequest)r) with { Buffer = Slots[k] }, Cmd(First + (uint)k) });

    private static readonly Gen<Op[]> Chunk = Gen.Frequency(
        (2, Connect), (10, Serve), (6, Single.Select(op => new[] { op })));

    [Fact]
    public void NoBarAccessOrRequest_HasAHostEffectOutsideGuestRam()
    {
        var gen = Gen.Select(Gen.Frequency((6, Gen.Const(true)), (1, Gen.Const(false))), Chunk.Array[1, 30].Select(c => c.SelectMany(x => x).ToArray()), (c, ops) => (Control: c, Ops: ops));
        var served = new long[2];
        long cases = PropertyRunner.Check("pvmemcontrol", seed: 0x7_0004, gen, Sequences, input => input.Ops.Length,
            input => Run(input.Control, input.Ops, served),
            input => $"{(input.Control ? "" : "no memory control, ")}{input.Ops.Length} operations:\n" + string.Join("\n", input.Ops.Select((op, i) => $"  {i}: {op}")),
            output.WriteLine);
        output.WriteLine($"fuzz: pvmemcontrol: {served[0]} requests served, {served[1]} host calls");
        Assert.True(served[0] > cases / 20 && served[1] > cases / 200, $"coverage too low: {served[0]} requests, {served[1]} host calls");
        Assert.True(cases >= 100_000 * PropertyRunner.Scale, $"only {cases} cases ran");
    }

    /// <summary>The protocol's transport state, as the guest sees it through the registers.</summary>
    private sealed class Model
    {
        public enum State { Broken, PercpuInit, Ready }

        public State Now = State.Broken;
        public readonly byte[] Registers = new byte[16];
        public readonly Dictionary<uint, ulong> Buffers = [];
        public uint Next = First;

        public Model() => Answer(State.Broken, Error, 0);

        public void Answer(State state, uint command, uint payload)
        {
            Now = state;
            if (state == State.Broken) Buffers.Clear();
            BinaryPrimitives.WriteUInt64LittleEndian(Registers, payload);
            BinaryPrimitives.WriteUInt32LittleEndian(Registers.AsSpan(8), command);
        }
    }

    private static void Run(bool withControl, Op[] ops, long[]? served = null)
    {
        var memory = new InMemoryGuestMemory((int)RamSize, RamBase);
        for (int i = 0; i < memory.Bytes.Length; i++) memory.Bytes[i] = (byte)(i * 7 + 3);
        var control = new RecordingMemoryControl(memory);
        var context = new TestDeviceContext(memory) { Name = "pvmemcontrol0", MemoryControl = withControl ? control : null };
        var device = new PvMemControlPlugin().Create(new NoOptions(), context);
        var model = new Model();
        for (int i = 0; i < ops.Length; i++)
        {
            try
            {
                Step(device, memory, control, withControl, model, ops[i], served);
            }
            catch (Exception e)
            {
                throw new FuzzInvariantException($"after operation {i} ({ops[i]}): {e.GetType().Name}: {e.Message}");
            }
        }
    }

    private static void Step(IPciDevice device, InMemoryGuestMemory memory, RecordingMemoryControl control, bool withControl, Model model, Op op, long[]? served)
    {
        var expected = memory.Bytes.ToArray();
        int callsBefore = control.Calls.Count;
        (string, ulong, ulong)? expectedCall = null;
        switch (op)
        {
            case HostFails h:
                control.NextErrno = h.Errno;
                return;
            case GuestRequest r:
                var request = new byte[32];
                BinaryPrimitives.WriteUInt64LittleEndian(request, r.Function);
                BinaryPrimitives.WriteUInt64LittleEndian(request.AsSpan(8), r.Address);
                BinaryPrimitives.WriteUInt64LittleEndian(request.AsSpan(16), r.Length);
                BinaryPrimitives.WriteUInt64LittleEndian(request.AsSpan(24), r.Arg);
                if (memory.Contains(r.Buffer, 32)) memory.Write(r.Buffer, request);
                return;
            case BarRead r:
                var data = new byte[r.Length];
                device.ReadBar(r.Index, r.Offset, data);
                var want = new byte[r.Length];
                if (r.Index == 0 && r.Offset < 16) model.Registers.AsSpan((int)r.Offset, Math.Min(r.Length, 16 - (int)r.Offset)).CopyTo(want);
                if (!data.AsSpan().SequenceEqual(want)) throw new FuzzInvariantException($"read {Convert.ToHexString(data)}, the model says {Convert.ToHexString(want)}");
                break;
            case BarWrite w:
                int errno = control.NextErrno;
                expectedCall = ModelWrite(model, w, expected, withControl, errno, served);
                device.WriteBar(w.Index, w.Offset, w.Data);
                if (expectedCall is null) control.NextErrno = errno;   // not consumed
                break;
        }
        // Host calls: exactly the one a valid request asked for, a page range inside RAM.
        var calls = control.Calls.Skip(callsBefore).ToList();
        foreach (var (operation, address, length) in calls)
            if (!GuestPageRange.IsValid(address, length, Page) || !memory.Contains(address, length))
                throw new FuzzInvariantException($"host call {operation} on 0x{address:x}+0x{length:x}: not a page range inside guest RAM");
        if (calls.Count != (expectedCall is null ? 0 : 1) || (expectedCall is { } c && (calls[0].Operation != c.Item1 || calls[0].Address != c.Item2 || calls[0].Length != c.Item3)))
            throw new FuzzInvariantException($"host calls [{string.Join(", ", calls)}], the model expected [{expectedCall}]");
        if (served is not null) served[1] += calls.Count;
        int at = memory.Bytes.AsSpan().CommonPrefixLength(expected);
        if (at < expected.Length)
            throw new FuzzInvariantException($"guest RAM at 0x{RamBase + (ulong)at:x} is {memory.Bytes[at]:x2}, the model says {expected[at]:x2}");
    }

    private static readonly string[] Operations =
    [
        "", "madvise:DontNeed", "madvise:Remove", "madvise:Free", "madvise:PageOut", "madvise:DontDump", "name", "mlock", "munlock",
        "mprotect:None", "mprotect:Read", "mprotect:Write", "mprotect:ReadWrite", "madvise:Mergeable", "madvise:Unmergeable",
    ];

    /// <summary>What a BAR write does per the protocol: registers, and for a served request its response and host call.</summary>
    private static (string, ulong, ulong)? ModelWrite(Model m, BarWrite w, byte[] ram, bool withControl, int hostErrno, long[]? served)
    {
        if (w.Index != 0) return null;
        if (w.Offset != 8)
        {
            if (w.Data.Length is 4 or 8 && w.Offset <= 8 && (ulong)w.Data.Length <= 8 - w.Offset) w.Data.CopyTo(m.Registers, (int)w.Offset);
            return null;
        }
        if (w.Data.Length != 4) return null;
        uint value = BinaryPrimitives.ReadUInt32LittleEndian(w.Data);
        switch (value)
        {
            case Reset:
                m.Buffers.Clear();
                m.Next = First;
                m.Answer(Model.State.PercpuInit, Ack, 0);
                return null;
            case Register when m.Now == Model.State.PercpuInit:
                ulong buffer = BinaryPrimitives.ReadUInt64LittleEndian(m.Registers);
                bool inRam = buffer >= RamBase && buffer - RamBase <= RamSize && RamSize - (buffer - RamBase) >= 32;
                if (!inRam || m.Buffers.Count >= 4096) { m.Answer(Model.State.Broken, Error, 0); return null; }
                uint id = m.Next;
                while (m.Buffers.ContainsKey(id)) id = id == uint.MaxValue ? First : id + 1;
                m.Buffers[id] = buffer;
                m.Next = id == uint.MaxValue ? First : id + 1;
                m.Answer(Model.State.PercpuInit, Ack, id);
                return null;
            case Ready when m.Now == Model.State.PercpuInit:
                m.Answer(Model.State.Ready, Ack, 0);
                return null;
            case Reset or Register or Ready or Disconnect or Ack or Error:
                m.Answer(Model.State.Broken, Error, 0);
                return null;
        }
        if (m.Now != Model.State.Ready || !m.Buffers.TryGetValue(value, out ulong at)) return null;
        // Serve: read the request, answer over it.
        int o = (int)(at - RamBase);
        ulong function = BinaryPrimitives.ReadUInt64LittleEndian(ram.AsSpan(o)), address = BinaryPrimitives.ReadUInt64LittleEndian(ram.AsSpan(o + 8)),
            length = BinaryPrimitives.ReadUInt64LittleEndian(ram.AsSpan(o + 16));
        (string, ulong, ulong)? call = null;
        (uint Errno, uint Code, ulong Value, ulong Arg0) response;
        bool validRange = GuestPageRange.IsValid(address, length, Page) && address >= RamBase && address - RamBase <= RamSize && length <= RamSize - (address - RamBase);
        if (function > 14) response = (95, (uint)function, 0, 0);
        else if (function == 0) response = (0, 0, Page, 1);
        else if (!withControl) response = (38, (uint)function, 0, 0);
        else if (!validRange) response = (22, (uint)function, 0, 0);
        else
        {
            call = (Operations[function], address, length);
            response = hostErrno == 0 ? (0u, 0u, 0UL, 0UL) : ((uint)hostErrno, (uint)function, 0UL, 0UL);
            if (hostErrno == 0 && function is 1 or 2) ram.AsSpan((int)(address - RamBase), (int)length).Clear();
        }
        BinaryPrimitives.WriteUInt32LittleEndian(ram.AsSpan(o), response.Errno);
        BinaryPrimitives.WriteUInt32LittleEndian(ram.AsSpan(o + 4), response.Code);
        BinaryPrimitives.WriteUInt64LittleEndian(ram.AsSpan(o + 8), response.Value);
        BinaryPrimitives.WriteUInt64LittleEndian(ram.AsSpan(o + 16), response.Arg0);
        BinaryPrimitives.WriteUInt64LittleEndian(ram.AsSpan(o + 24), 0);
        if (served is not null) served[0]++;
        return call;
    }
}
