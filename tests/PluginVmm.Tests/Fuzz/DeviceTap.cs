using PluginVmm.Sdk.Pci;

namespace PluginVmm.Tests.Fuzz;

/// <summary>
/// A transparent <see cref="IPciDevice"/> decorator that counts the calls the core makes into a device, so the
/// fuzzer can check that a BAR access reaches exactly the device that owns the address and that a fenced device is
/// never called. Every call is passed on unchanged; the core cannot tell it from the device itself.
/// </summary>
public sealed class DeviceTap(IPciDevice inner) : IPciDevice
{
    public IPciDevice Inner { get; } = inner;

    /// <summary>Calls of any kind since the last <see cref="Reset"/>.</summary>
    public int Calls { get; private set; }

    /// <summary>BAR reads since the last <see cref="Reset"/>: (index, offset, length).</summary>
    public List<(int Index, ulong Offset, int Length)> BarReads { get; } = [];

    public void Reset()
    {
        Calls = 0;
        BarReads.Clear();
    }

    public IReadOnlyList<PciBarSpec> Bars { get { Calls++; return Inner.Bars; } }

    public void AssignBar(int index, ulong address) { Calls++; Inner.AssignBar(index, address); }

    public uint ReadConfigRegister(int register) { Calls++; return Inner.ReadConfigRegister(register); }

    public IReadOnlyList<BarReprogrammingParams> WriteConfigRegister(int register, int offset, ReadOnlySpan<byte> data)
    {
        Calls++;
        return Inner.WriteConfigRegister(register, offset, data);
    }

    public void ReadBar(int index, ulong offset, Span<byte> data)
    {
        Calls++;
        BarReads.Add((index, offset, data.Length));
        Inner.ReadBar(index, offset, data);
    }

    public void WriteBar(int index, ulong offset, ReadOnlySpan<byte> data) { Calls++; Inner.WriteBar(index, offset, data); }

    public void MoveBar(BarReprogrammingParams move) { Calls++; Inner.MoveBar(move); }

    public void RestoreBarAddr(BarReprogrammingParams move) { Calls++; Inner.RestoreBarAddr(move); }
}
