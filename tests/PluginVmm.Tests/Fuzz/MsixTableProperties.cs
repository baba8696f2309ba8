using System.Buffers.Binary;
using CsCheck;
using PluginVmm.Sdk.Interrupts;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Testing;
using Xunit;
using Xunit.Abstractions;

namespace PluginVmm.Tests.Fuzz;

/// <summary>
/// Issue 7, target 2: the SDK's MSI-X table and PBA under any guest access. Sequences of table/PBA reads and writes of
/// any size and alignment (in range, misaligned, past the end), Message Control writes, device triggers and resets
/// run against an <see cref="MsixTable"/> over a <see cref="RecordingMsiVectorGroup"/> and a plain model of the
/// PCI spec (§6.8.2). After every operation: the route installed for each vector is the entry's message and unmasked
/// exactly when the entry is unmasked, MSI-X is enabled and the function is not masked; every dword of the table
/// and PBA reads what the model says; interrupts reach the guest exactly when the model delivers them (a masked
/// trigger sets the pending bit, unmasking delivers it once).
/// <para><b>What counts as a case:</b> one operation followed by the check; <see cref="Sequences"/> sequences of
/// 1..80 operations on tables of 1..70 vectors, ≈1.03·10^5 cases per default run, times PLUGINVMM_FUZZ_SCALE.</para>
/// </summary>
public sealed class MsixTableProperties(ITestOutputHelper output)
{
    public const int Sequences = 2600;

    public abstract record Op;

    public sealed record TableWrite(ulong Offset, byte[] Data) : Op
    {
        public override string ToString() => $"table write 0x{Offset:x} {Convert.ToHexString(Data)}";
    }

    public sealed record TableRead(ulong Offset, int Length) : Op;

    public sealed record PbaRead(ulong Offset, int Length) : Op;

    public sealed record Control(ushort Value) : Op
    {
        public override string ToString() => $"message control 0x{Value:x4}";
    }

    public sealed record Trigger(int Vector) : Op;

    public sealed record Reset : Op;

    private static readonly Gen<ulong> Offset = Gen.Frequency(
        (6, Gen.Select(Gen.Int[0, 71], Gen.OneOf(0, 4, 8, 12), (v, f) => (ulong)(v * 16 + f))),
        (2, Gen.Int[0, 72 * 16].Select(o => (ulong)o)),
        (1, Gen.OneOf(ulong.MaxValue, ulong.MaxValue - 3, 1UL << 32, 0x7FFF_FFFFUL)));

    private static readonly Gen<uint> Dword = Gen.Frequency(
        (3, Gen.OneOf(0u, 1u, 2u, 3u, 0xFFFF_FFFFu, 0xFFFF_FFFEu, 0xFEE0_0000u, 0xFEE0_1003u, 0x8000_0000u)),
        (2, Gen.UInt));

    private static readonly Gen<Op> Operation = Gen.Frequency<Op>(
        (8, Gen.Select(Offset, Gen.Frequency((6, Gen.Const(4)), (3, Gen.Const(8)), (1, Gen.OneOf(0, 1, 2, 3, 5, 12, 16))), Dword, Dword,
            (o, len, a, b) =>
            {
                var data = new byte[len];
                for (int i = 0; i < len; i++) data[i] = (byte)((i < 4 ? a : b) >> (i % 4 * 8));
                return (Op)new TableWrite(o, data);
            })),
        (2, Gen.Select(Offset, Gen.OneOf(4, 8, 1, 2, 16), (o, len) => (Op)new TableRead(o, len))),
        (1, Gen.Select(Gen.Int[0, 24].Select(o => (ulong)o), Gen.OneOf(4, 8, 1, 2), (o, len) => (Op)new PbaRead(o, len))),
        (3, Gen.Frequency((3, Gen.OneOf<ushort>(0x8000, 0xC000, 0x4000, 0, 0x8000, 0x07FF)), (1, Gen.UShort)).Select(v => (Op)new Control(v))),
        (4, Gen.Frequency((6, Gen.Int[0, 69]), (1, Gen.OneOf(-1, 70, 2048, int.MaxValue, int.MinValue))).Select(v => (Op)new Trigger(v))),
        (1, Gen.Const<Op>(new Reset())));

    [Fact]
    public void NoGuestAccess_MakesRoutesOrDeliveryDisagreeWithTheSpec()
    {
        var gen = Gen.Select(Gen.Frequency((3, Gen.Int[1, 8]), (2, Gen.Int[9, 70])), Operation.Array[1, 80], (v, ops) => (Vectors: v, Ops: ops));
        long cases = PropertyRunner.Check("msix-table", seed: 0x7_0002, gen, Sequences, input => input.Ops.Length,
            input => Run(input.Vectors, input.Ops),
            input => $"{input.Vectors} vectors, {input.Ops.Length} operations:\n" + string.Join("\n", input.Ops.Select((op, i) => $"  {i}: {op}")),
            output.WriteLine);
        Assert.True(cases >= 100_000 * PropertyRunner.Scale, $"only {cases} cases ran");
    }

    private sealed class Model(int vectors)
    {
        public readonly uint[,] Entries = InitialEntries(vectors);
        public readonly bool[] Pending = new bool[vectors];
        public readonly int[] Delivered = new int[vectors];
        public bool Enabled, FunctionMasked;

        private static uint[,] InitialEntries(int vectors)
        {
            var e = new uint[vectors, 4];
            for (int v = 0; v < vectors; v++) e[v, 3] = 1;
            return e;
        }

        public int Count => Pending.Length;

        public bool Masked(int v) => !Enabled || FunctionMasked || (Entries[v, 3] & 1) != 0;

        public MsiMessage Message(int v) => new((ulong)Entries[v, 1] << 32 | Entries[v, 0], Entries[v, 2]);

        public void Deliver(int v)
        {
            if (!Masked(v) && Pending[v])
            {
                Pending[v] = false;
                Delivered[v]++;
            }
        }
    }

    private static bool WellFormed(ulong offset, int length, ulong limit) =>
        length is 4 or 8 && offset % (ulong)length == 0 && offset < limit && limit - offset >= (ulong)length;

    private static void Run(int vectors, Op[] ops)
    {
        var group = new RecordingMsiVectorGroup(vectors);
        var table = new MsixTable(vectors, group);
        var model = new Model(vectors);
        for (int i = 0; i < ops.Length; i++)
        {
            try
            {
                Step(table, model, ops[i]);
                Check(table, group, model);
            }
            catch (Exception e)
            {
                throw new FuzzInvariantException($"after operation {i} ({ops[i]}): {e.GetType().Name}: {e.Message}");
            }
        }
    }

    private static void Step(MsixTable table, Model model, Op op)
    {
        switch (op)
        {
            case TableWrite w:
                table.WriteTable(w.Offset, w.Data);
                if (!WellFormed(w.Offset, w.Data.Length, (ulong)model.Count * 16)) return;
                for (int done = 0; done < w.Data.Length; done += 4)
                {
                    ulong at = w.Offset + (ulong)done;
                    int v = (int)(at / 16), field = (int)(at % 16 / 4);
                    uint value = BinaryPrimitives.ReadUInt32LittleEndian(w.Data.AsSpan(done));
                    model.Entries[v, field] = field switch { 0 => value & ~3u, 3 => value & 1, _ => value };
                }
                model.Deliver((int)(w.Offset / 16));
                break;
            case TableRead r:
                var data = new byte[r.Length];
                table.ReadTable(r.Offset, data);
                var expected = new byte[r.Length];
                if (WellFormed(r.Offset, r.Length, (ulong)model.Count * 16))
                    for (int done = 0; done < r.Length; done += 4)
                    {
                        ulong at = r.Offset + (ulong)done;
                        BinaryPrimitives.WriteUInt32LittleEndian(expected.AsSpan(done), model.Entries[(int)(at / 16), (int)(at % 16 / 4)]);
                    }
                if (!data.SequenceEqual(expected)) throw new FuzzInvariantException($"read {Convert.ToHexString(data)}, expected {Convert.ToHexString(expected)}");
                break;
            case PbaRead p:
                var pba = new byte[p.Length];
                table.ReadPba(p.Offset, pba);
                var want = new byte[p.Length];
                if (WellFormed(p.Offset, p.Length, (ulong)(model.Count + 63) / 64 * 8))
                    for (int b = 0; b < p.Length * 8; b++)
                    {
                        int v = (int)p.Offset * 8 + b;
                        if (v < model.Count && model.Pending[v]) want[b / 8] |= (byte)(1 << (b % 8));
                    }
                if (!pba.SequenceEqual(want)) throw new FuzzInvariantException($"PBA read {Convert.ToHexString(pba)}, expected {Convert.ToHexString(want)}");
                break;
            case Control c:
                table.SetMessageControl(c.Value);
                model.Enabled = (c.Value & MsixTable.ControlEnable) != 0;
                model.FunctionMasked = (c.Value & MsixTable.ControlFunctionMask) != 0;
                for (int v = 0; v < model.Count; v++) model.Deliver(v);
                break;
            case Trigger t:
                table.Trigger(t.Vector);
                if ((uint)t.Vector >= (uint)model.Count) return;
                if (model.Masked(t.Vector)) model.Pending[t.Vector] = true;
                else model.Delivered[t.Vector]++;
                break;
            case Reset:
                table.Reset();
                for (int v = 0; v < model.Count; v++)
                {
                    model.Entries[v, 0] = model.Entries[v, 1] = model.Entries[v, 2] = 0;
                    model.Entries[v, 3] = 1;
                    model.Pending[v] = false;
                }
                break;
        }
    }

    private static void Check(MsixTable table, RecordingMsiVectorGroup group, Model model)
    {
        for (int v = 0; v < model.Count; v++)
        {
            bool masked = model.Masked(v);
            var route = group.Route(v);
            if (masked && route is { Masked: false })
                throw new FuzzInvariantException($"vector {v} is masked but its route {route.Value.Message} is installed unmasked");
            if (!masked && route != (model.Message(v), false))
                throw new FuzzInvariantException($"vector {v} is unmasked with message {model.Message(v)} but the route is {route?.ToString() ?? "none"}");
            if (table.IsMasked(v) != masked) throw new FuzzInvariantException($"vector {v}: IsMasked says {table.IsMasked(v)}, the spec {masked}");
            if (table.IsPending(v) != model.Pending[v]) throw new FuzzInvariantException($"vector {v}: pending {table.IsPending(v)}, the spec {model.Pending[v]}");
            if (group.DeliveredCount(v) != model.Delivered[v])
                throw new FuzzInvariantException($"vector {v}: {group.DeliveredCount(v)} interrupts reached the guest, the spec says {model.Delivered[v]}");
        }
    }
}
