using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Testing;
using PluginVmm.Sdk.Testing.Conformance;
using Xunit;
using Xunit.Sdk;

namespace PluginVmm.Tests.Plugins.Conformance;

/// <summary>The conformance base fails devices that break its rules (so a passing device class means something).</summary>
public sealed class ConformanceCatchesBrokenDevicesTests
{
    /// <summary>A device written against IPciDevice directly that gets rollback and identity wrong.</summary>
    private sealed class BrokenDevice(bool ignoreRestore, bool writableVendor) : IPciDevice
    {
        private readonly PciConfiguration _config = Build();

        private static PciConfiguration Build()
        {
            var c = new PciConfiguration(0x1234, 0x0001, 0xFF, 0);
            c.AddBar(new PciBarSpec(0, 0x1000, PciBarKind.Memory32));
            c.AddBar(new PciBarSpec(2, 0x10_0000, PciBarKind.Memory64));
            return c;
        }

        public IReadOnlyList<PciBarSpec> Bars => _config.Bars;
        public void AssignBar(int index, ulong address) => _config.SetBarAddress(index, address);
        public uint ReadConfigRegister(int register) => writableVendor && register == 0 ? _vendor : _config.Read(register);
        private uint _vendor = 0x0001_1234;

        public IReadOnlyList<BarReprogrammingParams> WriteConfigRegister(int register, int offset, ReadOnlySpan<byte> data)
        {
            if (writableVendor && register == 0 && data.Length == 4) _vendor = BitConverter.ToUInt32(data);
            return _config.Write(register, offset, data);
        }

        public void ReadBar(int index, ulong offset, Span<byte> data) => data.Clear();
        public void WriteBar(int index, ulong offset, ReadOnlySpan<byte> data) { }
        public void MoveBar(BarReprogrammingParams move) => _config.CommitBarMove(move);

        public void RestoreBarAddr(BarReprogrammingParams move)
        {
            if (!ignoreRestore) _config.RestoreBarAddr(move);
        }
    }

    private sealed class Suite(bool ignoreRestore, bool writableVendor) : PciDeviceConformanceTests
    {
        protected override IPciDevice CreateDevice(TestDeviceContext context) => new BrokenDevice(ignoreRestore, writableVendor);
    }

    [Fact]
    public void A_correct_device_passes()
    {
        new Suite(false, false).Refused_moves_roll_back_by_index();
        new Suite(false, false).Identity_registers_are_read_only();
    }

    [Fact]
    public void A_device_ignoring_RestoreBarAddr_fails_the_rollback_rule()
    {
        var e = Assert.ThrowsAny<XunitException>(() => new Suite(true, false).Refused_moves_roll_back_by_index());
        Assert.Contains("after the rollback", e.Message);
    }

    [Fact]
    public void A_device_with_a_writable_vendor_id_fails_the_identity_rule()
    {
        var e = Assert.ThrowsAny<XunitException>(() => new Suite(false, true).Identity_registers_are_read_only());
        Assert.Contains("config 0x00 changed", e.Message);
    }
}
