using System.Buffers.Binary;
using System.Text;
using PluginVmm.Core.Acpi;
using PluginVmm.Tests.Boot;
using Xunit;

namespace PluginVmm.Tests.Acpi;

public sealed class AcpiTablesTests
{
    private static readonly AcpiLayout Layout = new()
    {
        VcpuCount = 2,
        Mmio64Start = 0x100_0000_0000,
        Mmio64End = 0x1FF_FFFF_FFFF,
    };

    private static ByteArrayGuestMemory NewMemory() => new(2 << 20);

    private static string Sig(ByteArrayGuestMemory m, ulong a) => Encoding.ASCII.GetString(m.Slice(a, 4));
    private static uint U32(ByteArrayGuestMemory m, ulong a) => BinaryPrimitives.ReadUInt32LittleEndian(m.Bytes.AsSpan((int)a));
    private static ulong U64(ByteArrayGuestMemory m, ulong a) => BinaryPrimitives.ReadUInt64LittleEndian(m.Bytes.AsSpan((int)a));

    private static int Sum(ReadOnlySpan<byte> bytes)
    {
        var sum = 0;
        foreach (var b in bytes) sum += b;
        return sum & 0xFF;
    }

    /// <summary>Follows RSDP → XSDT (→ FADT → DSDT) and returns every table by signature.</summary>
    internal static Dictionary<string, (ulong Address, byte[] Bytes)> ReadTables(ByteArrayGuestMemory m, ulong rsdp)
    {
        var tables = new Dictionary<string, (ulong, byte[])>();
        (ulong, byte[]) Table(ulong a) => (a, m.Slice(a, (int)U32(m, a + 4)));
        var xsdt = U64(m, rsdp + 24);
        tables["XSDT"] = Table(xsdt);
        var length = U32(m, xsdt + 4);
        for (var at = xsdt + 36; at < xsdt + length; at += 8)
        {
            var address = U64(m, at);
            tables[Sig(m, address)] = Table(address);
        }
        tables["DSDT"] = Table(U64(m, tables["FACP"].Item1 + 140));
        return tables;
    }

    [Fact]
    public void Rsdp_is_in_the_bios_area_with_both_checksums()
    {
        var m = NewMemory();
        var rsdp = AcpiTables.Write(m, Layout);
        Assert.Equal(0xE0000ul, rsdp);
        Assert.Equal(0ul, rsdp % 16);
        Assert.Equal("RSD PTR ", Encoding.ASCII.GetString(m.Slice(rsdp, 8)));
        Assert.Equal(0, Sum(m.Slice(rsdp, 20)));
        Assert.Equal(0, Sum(m.Slice(rsdp, 36)));
        Assert.Equal(2, m.Bytes[rsdp + 15]);
        Assert.Equal(36u, U32(m, rsdp + 20));
        Assert.Equal("XSDT", Sig(m, U64(m, rsdp + 24)));
    }

    [Fact]
    public void Every_table_sums_to_zero_and_declares_its_length()
    {
        var m = NewMemory();
        var tables = ReadTables(m, AcpiTables.Write(m, Layout));
        Assert.Equal(["APIC", "DSDT", "FACP", "MCFG", "XSDT"], tables.Keys.Order());
        var end = 0ul;
        foreach (var (sig, (address, bytes)) in tables)
        {
            Assert.Equal(sig, Encoding.ASCII.GetString(bytes, 0, 4));
            Assert.Equal(0, Sum(bytes));
            Assert.Equal("PLUGVM", Encoding.ASCII.GetString(bytes, 10, 6));
            Assert.True(address >= 0xE0000 + 36 && address + (ulong)bytes.Length <= 0x100000, $"{sig} at 0x{address:x}");
            end = Math.Max(end, address + (ulong)bytes.Length);
        }
        // Tables do not overlap: their lengths add up to no more than the span they occupy.
        Assert.True(tables.Values.Sum(t => t.Bytes.Length) <= (int)(end - 0xE0000 - 36));
    }

    [Fact]
    public void Fadt_is_hardware_reduced_with_sleep_and_reset_registers()
    {
        var m = NewMemory();
        var f = ReadTables(m, AcpiTables.Write(m, Layout))["FACP"].Bytes;
        Assert.Equal(276, f.Length);
        Assert.Equal(6, f[8]);
        var flags = BinaryPrimitives.ReadUInt32LittleEndian(f.AsSpan(112));
        Assert.NotEqual(0u, flags & (1u << 20)); // HW_REDUCED_ACPI
        Assert.NotEqual(0u, flags & (1u << 10)); // RESET_REG_SUP
        // RESET_REG: System I/O, 8 bits, byte access, port 0x3C0; RESET_VALUE 1.
        Assert.Equal(new byte[] { 1, 8, 0, 1 }, f[116..120]);
        Assert.Equal((ulong)AcpiPlatformPorts.ResetRegister, BinaryPrimitives.ReadUInt64LittleEndian(f.AsSpan(120)));
        Assert.Equal(AcpiPlatformPorts.ResetValue, f[128]);
        // SLEEP_CONTROL_REG / SLEEP_STATUS_REG.
        Assert.Equal(new byte[] { 1, 8, 0, 1 }, f[244..248]);
        Assert.Equal((ulong)AcpiPlatformPorts.SleepControl, BinaryPrimitives.ReadUInt64LittleEndian(f.AsSpan(248)));
        Assert.Equal(new byte[] { 1, 8, 0, 1 }, f[256..260]);
        Assert.Equal((ulong)AcpiPlatformPorts.SleepStatus, BinaryPrimitives.ReadUInt64LittleEndian(f.AsSpan(260)));
        Assert.Equal("PLUGVMM ", Encoding.ASCII.GetString(f, 268, 8));
        // No PM1 blocks, no FACS; VGA and 8042 absent.
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(f.AsSpan(64)));
        Assert.Equal(0ul, BinaryPrimitives.ReadUInt64LittleEndian(f.AsSpan(132)));
        var bootArch = BinaryPrimitives.ReadUInt16LittleEndian(f.AsSpan(109));
        Assert.Equal(0, bootArch & 0x2);
        Assert.NotEqual(0, bootArch & 0x4);
    }

    [Fact]
    public void Sleep_control_encoding_matches_what_linux_writes_for_S5()
    {
        // ACPICA hwxface/hwesleep: (SLP_TYPa << 2) & 0x1C | SLP_EN (0x20), SLP_TYPa from \_S5.
        var linuxWrite = (byte)(((AcpiPlatformPorts.S5SleepType << 2) & 0x1C) | 0x20);
        Assert.Equal(0x34, linuxWrite);
        Assert.True(AcpiPlatformPorts.IsPowerOff(linuxWrite));
        Assert.False(AcpiPlatformPorts.IsPowerOff(AcpiPlatformPorts.ResetValue));
        Assert.False(AcpiPlatformPorts.IsPowerOff((byte)(AcpiPlatformPorts.S5SleepType << 2))); // SLP_EN clear
        Assert.False(AcpiPlatformPorts.IsReset(linuxWrite));
        Assert.True(AcpiPlatformPorts.IsReset(AcpiPlatformPorts.ResetValue));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(8)]
    public void Madt_lists_every_vcpu_the_ioapic_and_the_lapic_address(int vcpus)
    {
        var m = NewMemory();
        var t = ReadTables(m, AcpiTables.Write(m, Layout with { VcpuCount = vcpus }))["APIC"].Bytes;
        Assert.Equal(0xFEE0_0000u, BinaryPrimitives.ReadUInt32LittleEndian(t.AsSpan(36)));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(t.AsSpan(40)) & 1); // PCAT_COMPAT
        var lapicIds = new List<int>();
        var ioapics = 0;
        var overrides = 0;
        for (var at = 44; at < t.Length; at += t[at + 1])
        {
            Assert.True(t[at + 1] >= 2, "entry length");
            switch (t[at])
            {
                case 0:
                    Assert.Equal(8, t[at + 1]);
                    Assert.Equal(t[at + 2], t[at + 3]); // UID = APIC id
                    Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(t.AsSpan(at + 4)));
                    lapicIds.Add(t[at + 3]);
                    break;
                case 1:
                    Assert.Equal(12, t[at + 1]);
                    Assert.Equal(0, t[at + 2]);
                    Assert.Equal(0xFEC0_0000u, BinaryPrimitives.ReadUInt32LittleEndian(t.AsSpan(at + 4)));
                    Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(t.AsSpan(at + 8)));
                    ioapics++;
                    break;
                case 2:
                    overrides++;
                    break;
            }
        }
        Assert.Equal(Enumerable.Range(0, vcpus), lapicIds);
        Assert.Equal(1, ioapics);
        Assert.Equal(0, overrides); // default: KVM's GSI routing, IRQ0 on pin 0
    }

    [Fact]
    public void Madt_irq0_override_when_asked()
    {
        var m = NewMemory();
        var t = ReadTables(m, AcpiTables.Write(m, Layout with { Irq0OverrideToGsi2 = true }))["APIC"].Bytes;
        var iso = t.AsSpan(44).IndexOf(new byte[] { 2, 10, 0, 0, 2, 0, 0, 0, 0, 0 });
        Assert.True(iso >= 0, "ISA IRQ0 -> GSI 2 override present");
    }

    [Fact]
    public void Mcfg_describes_the_ecam_window()
    {
        var m = NewMemory();
        var t = ReadTables(m, AcpiTables.Write(m, Layout with { EcamLastBus = 3 }))["MCFG"].Bytes;
        Assert.Equal(60, t.Length);
        Assert.Equal(0xE800_0000ul, BinaryPrimitives.ReadUInt64LittleEndian(t.AsSpan(44)));
        Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(t.AsSpan(52)));
        Assert.Equal(0, t[54]);
        Assert.Equal(3, t[55]);
    }

    [Fact]
    public void Dsdt_carries_s5_host_bridge_windows_and_com1()
    {
        var m = NewMemory();
        var d = ReadTables(m, AcpiTables.Write(m, Layout))["DSDT"].Bytes;
        Assert.Equal(2, d[8]);
        var body = d.AsSpan(36);
        Assert.True(body.StartsWith(Aml.Name("_S5", Aml.Package(Aml.Integer(5), Aml.Integer(5), Aml.Integer(0), Aml.Integer(0)))));
        Assert.True(body.IndexOf(Aml.EisaId("PNP0A08")) > 0);
        Assert.True(body.IndexOf(Aml.EisaId("PNP0501")) > 0);
        Assert.True(body.IndexOf(AmlResource.DWordMemory(0xC000_0000, 0xE7FF_FFFF)) > 0);
        Assert.True(body.IndexOf(AmlResource.QWordMemory(0x100_0000_0000, 0x1FF_FFFF_FFFF)) > 0);
        Assert.True(body.IndexOf(AmlResource.Memory32Fixed(0xE800_0000, 0x10_0000)) > 0);
        // The \_SB scope's PkgLength covers exactly the rest of the table.
        var scope = body[14..];
        Assert.Equal(0x10, scope[0]);
        var follow = scope[1] >> 6;
        var length = follow == 0 ? scope[1] & 0x3F : scope[1] & 0x0F;
        for (var i = 1; i <= follow; i++) length |= scope[1 + i] << (4 + 8 * (i - 1));
        Assert.Equal(scope.Length - 1, length);
    }

    [Fact]
    public void Without_com1_or_mmio64_they_are_left_out()
    {
        var d = AcpiDsdt.Body(new AcpiLayout { VcpuCount = 1, Com1 = false });
        Assert.Equal(-1, d.AsSpan().IndexOf(Aml.EisaId("PNP0501")));
        Assert.Equal(-1, d.AsSpan().IndexOf((byte)0x8A));
    }

    [Fact]
    public void Memory_without_the_bios_area_is_refused_clearly()
    {
        var e = Assert.Throws<InvalidOperationException>(() => AcpiTables.Write(new ByteArrayGuestMemory(0xA0000), Layout));
        Assert.Contains("not in guest RAM", e.Message);
    }

    [Fact]
    public void Invalid_layouts_are_refused()
    {
        var m = NewMemory();
        Assert.Throws<ArgumentOutOfRangeException>(() => AcpiTables.Write(m, Layout with { VcpuCount = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => AcpiTables.Write(m, Layout with { VcpuCount = 255 }));
        Assert.Throws<ArgumentException>(() => AcpiTables.Write(m, Layout with { EcamBase = 0xE800_1000 }));
        Assert.Throws<ArgumentException>(() => AcpiTables.Write(m, Layout with { Mmio32Start = 2, Mmio32End = 1 }));
        Assert.Throws<ArgumentException>(() => AcpiTables.Write(m, Layout with { RsdpAddress = 0xE0008 }));
    }
}
