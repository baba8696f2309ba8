using CsCheck;
using PluginVmm.Plugins.Ivshmem;
using PluginVmm.Plugins.PvPanic;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Testing;
using Xunit;
using Xunit.Abstractions;

namespace PluginVmm.Tests.Fuzz;

/// <summary>
/// Issue 7, target 4 (pvpanic, ivshmem): BAR accesses of any BAR index, offset (in the register, around the ends,
/// up to 2^64 − 1), size (0 to 16 bytes, including sizes no CPU makes) and value, against the devices created
/// through their plugins. No exception escapes, and the register semantics hold after every access:
/// pvpanic reads its supported events (0x03) in byte 0 and zeros elsewhere, and reports exactly one event per write
/// of a non-empty value at offset 0 (bit 0: panic, else bit 1: crash kernel loaded, else "unknown"), none otherwise;
/// ivshmem's BAR0 registers read zero and ignore writes, and its BAR2 behaves as memory: a read returns the last
/// bytes written there, an access not wholly inside the shared region reads zeros and changes nothing.
/// <para><b>What counts as a case:</b> one access followed by the checks; <see cref="Sequences"/> sequences of
/// 1..80 per default run (≥10^5 per device), times PLUGINVMM_FUZZ_SCALE.</para>
/// </summary>
public sealed class PvPanicIvshmemProperties(ITestOutputHelper output)
{
    public const int Sequences = 2600;
    private const ulong SharedSize = 1 << 20;

    public sealed record Access(bool Write, int Index, ulong Offset, byte[] Data)
    {
        public override string ToString() => $"{(Write ? "write" : "read")} BAR{Index}+0x{Offset:x} {(Write ? Convert.ToHexString(Data) : $"{Data.Length} bytes")}";
    }

    private static Gen<Access> Accesses(int usualIndex, ulong size, params ulong[] interesting) =>
        Gen.Select(
            Gen.Frequency((3, Gen.Const(true)), (2, Gen.Const(false))),
            Gen.Frequency((8, Gen.Const(usualIndex)), (2, Gen.Int[0, 5])),
            Gen.Frequency(
                (6, Gen.Int[0, 63].Select(o => (ulong)o)),
                (3, Gen.OneOf(interesting)),
                (2, Gen.Int[-16, 16].Select(d => unchecked(size + (ulong)d))),
                (1, Gen.ULong), (1, Gen.OneOf(ulong.MaxValue, ulong.MaxValue - 7, 1UL << 63))),
            Gen.Frequency((6, Gen.OneOf(1, 2, 4, 8)), (1, Gen.OneOf(0, 3, 5, 16))),
            Gen.Frequency((3, Gen.OneOf<byte>(0, 1, 2, 3, 4, 0x80, 0xFF)), (2, Gen.Byte)),
            Gen.Byte.Array[16],
            (write, index, offset, length, first, rest) =>
            {
                var data = rest[..length];
                if (length > 0) data[0] = first;
                return new Access(write, index, offset, data);
            });

    private static string Print(Access[] ops) => $"{ops.Length} accesses:\n" + string.Join("\n", ops.Select((op, i) => $"  {i}: {op}"));

    [Fact]
    public void NoBarAccess_BreaksPvPanic()
    {
        long cases = PropertyRunner.Check("pvpanic-bar", seed: 0x7_0041, Accesses(0, 16, 0, 1).Array[1, 80], Sequences, ops => ops.Length,
            RunPvPanic, Print, output.WriteLine);
        Assert.True(cases >= 100_000 * PropertyRunner.Scale, $"only {cases} cases ran");
    }

    [Fact]
    public void NoBarAccess_BreaksIvshmemRegisterOrMemorySemantics()
    {
        long cases = PropertyRunner.Check("ivshmem-bar", seed: 0x7_0042,
            Accesses(2, SharedSize, 0x100, 0xFF, 0xFC, SharedSize - 1, SharedSize - 4, SharedSize - 8, SharedSize / 2).Array[1, 80], Sequences, ops => ops.Length,
            RunIvshmem, Print, output.WriteLine);
        Assert.True(cases >= 100_000 * PropertyRunner.Scale, $"only {cases} cases ran");
    }

    private static void RunPvPanic(Access[] ops)
    {
        var context = new TestDeviceContext(new InMemoryGuestMemory(0x1000)) { Name = "pvpanic0" };
        var device = new PvPanicPlugin().Create(new NoOptions(), context);
        var expected = new List<string>();
        for (int i = 0; i < ops.Length; i++)
        {
            var a = ops[i];
            Guard(i, a, () =>
            {
                if (a.Write)
                {
                    device.WriteBar(a.Index, a.Offset, a.Data);
                    if (a.Offset == 0 && a.Data.Length > 0)
                        expected.Add((a.Data[0] & 1) != 0 ? "panic" : (a.Data[0] & 2) != 0 ? "event crash" : "event unknown");
                }
                else
                {
                    var data = new byte[a.Data.Length];
                    device.ReadBar(a.Index, a.Offset, data);
                    var want = new byte[data.Length];
                    if (a.Offset == 0 && want.Length > 0) want[0] = 0x03;
                    if (!data.AsSpan().SequenceEqual(want)) throw new FuzzInvariantException($"read {Convert.ToHexString(data)}, expected {Convert.ToHexString(want)}");
                }
                var got = context.RecordingVm.Reports.Select(r => r.Kind == "panic" ? "panic" : r.Detail.Contains("crash kernel") ? "event crash" : "event unknown");
                if (!got.SequenceEqual(expected))
                    throw new FuzzInvariantException($"reports [{string.Join(", ", context.RecordingVm.Reports)}], expected [{string.Join(", ", expected)}]");
            });
        }
    }

    private static void RunIvshmem(Access[] ops)
    {
        var context = new TestDeviceContext(new InMemoryGuestMemory(0x1000)) { Name = "ivshmem0" };
        var device = new IvshmemPlugin().Create(new IvshmemOptions { Path = "/nonexistent/ivshmem", SizeMib = 1 }, context);
        var shared = (ArrayHostMemory)context.FakeResources.Mappings.Single().Memory;
        var model = new byte[SharedSize];
        try
        {
            for (int i = 0; i < ops.Length; i++)
            {
                var a = ops[i];
                Guard(i, a, () =>
                {
                    bool inShared = a.Index == 2 && a.Offset < SharedSize && (ulong)a.Data.Length <= SharedSize - a.Offset;
                    if (a.Write)
                    {
                        device.WriteBar(a.Index, a.Offset, a.Data);
                        if (inShared) a.Data.CopyTo(model, (int)a.Offset);
                    }
                    else
                    {
                        var data = new byte[a.Data.Length];
                        device.ReadBar(a.Index, a.Offset, data);
                        var want = inShared ? model.AsSpan((int)a.Offset, data.Length) : new byte[data.Length];
                        if (!data.AsSpan().SequenceEqual(want)) throw new FuzzInvariantException($"read {Convert.ToHexString(data)}, expected {Convert.ToHexString(want)}");
                    }
                    // The bytes around the access (the whole region at the end of the sequence) hold what the model says.
                    ulong from = Math.Min(a.Offset, SharedSize) >= 32 ? Math.Min(a.Offset, SharedSize) - 32 : 0;
                    int span = (int)Math.Min(SharedSize - from, 80);
                    if (i == ops.Length - 1) (from, span) = (0, (int)SharedSize);
                    if (!shared.Bytes.AsSpan((int)from, span).SequenceEqual(model.AsSpan((int)from, span)))
                        throw new FuzzInvariantException($"shared memory around 0x{from:x} differs from the model");
                });
            }
        }
        finally
        {
            (device as IDisposable)?.Dispose();
        }
    }

    private static void Guard(int i, Access a, Action step)
    {
        try
        {
            step();
        }
        catch (Exception e)
        {
            throw new FuzzInvariantException($"after access {i} ({a}): {e.GetType().Name}: {e.Message}");
        }
    }
}
