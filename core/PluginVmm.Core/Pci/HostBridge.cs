using PluginVmm.Sdk.Pci;

namespace PluginVmm.Core.Pci;

/// <summary>The host bridge at 00:00.0: Intel 8086:0d57, class 06/00 (bridge, host). No BARs; read-only.</summary>
internal sealed class HostBridge : IPciDevice
{
    public const ushort VendorId = 0x8086, DeviceId = 0x0d57;

    public IReadOnlyList<PciBarSpec> Bars => [];

    public void AssignBar(int index, ulong address) => throw new InvalidOperationException("the host bridge has no BARs");

    public uint ReadConfigRegister(int register) => register switch
    {
        0 => (uint)DeviceId << 16 | VendorId,
        2 => 0x06u << 24 | 0x00u << 16, // class 06 (bridge), subclass 00 (host), prog-if 0, revision 0
        _ => 0,
    };

    public IReadOnlyList<BarReprogrammingParams> WriteConfigRegister(int register, int offset, ReadOnlySpan<byte> data) => [];

    public void ReadBar(int index, ulong offset, Span<byte> data) => data.Fill(0xFF);

    public void WriteBar(int index, ulong offset, ReadOnlySpan<byte> data)
    {
    }

    public void MoveBar(BarReprogrammingParams move) => throw new InvalidOperationException("the host bridge has no BARs");

    public void RestoreBarAddr(BarReprogrammingParams move)
    {
    }
}
