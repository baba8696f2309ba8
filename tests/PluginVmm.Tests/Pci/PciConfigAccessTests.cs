using PluginVmm.Core.Pci;
using PluginVmm.Sdk.Pci;
using PluginVmm.Tests.Pci.Fakes;
using Xunit;

namespace PluginVmm.Tests.Pci;

public sealed class PciConfigAccessTests
{
    private const ulong Cf8 = 0xCF8, Cfc = 0xCFC;

    private static void Out(PciTestBed bed, ulong port, uint value, int size) =>
        bed.Bus.Write(BusSpace.Pio, port, BitConverter.GetBytes(value).AsSpan(0, size));

    private static uint In(PciTestBed bed, ulong port, int size)
    {
        var bytes = bed.Bus.Read(BusSpace.Pio, port, size);
        uint v = 0;
        for (int i = 0; i < size; i++) v |= (uint)bytes[i] << (8 * i);
        return v;
    }

    private static uint Address(int dev, int fn, int reg, int bus = 0) => 0x8000_0000u | (uint)bus << 16 | (uint)dev << 11 | (uint)fn << 8 | (uint)reg << 2;

    [Fact]
    public void Host_bridge_through_cf8()
    {
        var bed = new PciTestBed();
        Out(bed, Cf8, Address(0, 0, 0), 4);
        Assert.Equal(0x0d57_8086u, In(bed, Cfc, 4));
        Out(bed, Cf8, Address(0, 0, 2), 4);
        Assert.Equal(0x0600_0000u, In(bed, Cfc, 4)); // class 06 subclass 00
        Assert.Equal(0x06u, In(bed, Cfc + 3, 1));
    }

    [Fact]
    public void Linux_conf1_probe_sequence_reads_back_the_enable_bit()
    {
        var bed = new PciTestBed();
        Out(bed, 0xCFB, 0x01, 1);
        uint saved = In(bed, Cf8, 4);
        Out(bed, Cf8, 0x8000_0000, 4);
        Assert.Equal(0x8000_0000u, In(bed, Cf8, 4));
        Out(bed, Cf8, saved, 4);
    }

    [Fact]
    public void Byte_and_word_writes_merge_into_config_address()
    {
        var bed = new PciTestBed();
        Out(bed, Cf8, 0x0000_0008, 1);      // register 2
        Out(bed, 0xCFA, 0x0000, 2);         // bus 0
        Out(bed, 0xCFB, 0x80, 1);           // enable
        Assert.Equal(0x8000_0008u, bed.Root.ConfigIo.ConfigAddress);
        Assert.Equal(0x0600_0000u, In(bed, Cfc, 4));
        Out(bed, Cf8, 0x7F00_0003, 4);      // reserved bits and type bits read back as zero
        Assert.Equal(0u, bed.Root.ConfigIo.ConfigAddress);
    }

    [Fact]
    public void Data_port_offsets_and_sizes_select_bytes_of_the_register()
    {
        var bed = new PciTestBed();
        Out(bed, Cf8, Address(0, 0, 0), 4);
        Assert.Equal(0x86u, In(bed, Cfc, 1));
        Assert.Equal(0x80u, In(bed, Cfc + 1, 1));
        Assert.Equal(0x57u, In(bed, Cfc + 2, 1));
        Assert.Equal(0x0du, In(bed, Cfc + 3, 1));
        Assert.Equal(0x8086u, In(bed, Cfc, 2));
        Assert.Equal(0x0d57u, In(bed, Cfc + 2, 2));
    }

    [Theory]
    [InlineData(0xCFD, 4)] // crosses the dword
    [InlineData(0xCFF, 2)]
    [InlineData(0xCFC, 3)] // odd size
    public void Malformed_data_accesses_read_all_ones(ulong port, int size)
    {
        var bed = new PciTestBed();
        Out(bed, Cf8, Address(0, 0, 0), 4);
        Assert.All(bed.Bus.Read(BusSpace.Pio, port, size), b => Assert.Equal(0xFF, b));
    }

    [Fact]
    public void Disabled_address_other_bus_absent_slot_and_absent_function_read_all_ones()
    {
        var bed = new PciTestBed();
        bed.Root.AddDevice("dev", new TestPciDevice(new PciBarSpec(0, 0x1000, PciBarKind.Memory32)));
        Out(bed, Cf8, Address(1, 0, 0) & 0x7FFF_FFFF, 4);
        Assert.Equal(0xFFFF_FFFFu, In(bed, Cfc, 4));
        Out(bed, Cf8, Address(1, 0, 0), 4);
        Assert.Equal(0x1234_1af4u, In(bed, Cfc, 4));
        Out(bed, Cf8, Address(1, 0, 0, bus: 1), 4);
        Assert.Equal(0xFFFF_FFFFu, In(bed, Cfc, 4));
        Out(bed, Cf8, Address(2, 0, 0), 4);
        Assert.Equal(0xFFFF_FFFFu, In(bed, Cfc, 4));
        Out(bed, Cf8, Address(1, 3, 0), 4);
        Assert.Equal(0xFFFF_FFFFu, In(bed, Cfc, 4));
        Out(bed, Cf8, Address(0, 1, 0), 4);
        Assert.Equal(0xFFFF_FFFFu, In(bed, Cfc, 4));
    }

    [Fact]
    public void Writes_to_an_absent_function_do_not_reach_function_0()
    {
        // cloud-hypervisor's 0xCF8 path ignores the function number on writes: a write to fn 3 lands on fn 0.
        var bed = new PciTestBed();
        var device = new TestPciDevice(new PciBarSpec(0, 0x1000, PciBarKind.Memory32));
        int dev = bed.Root.AddDevice("dev", device);
        uint before = bed.ReadConfig(dev, 1) & 0xFFFF;
        Out(bed, Cf8, Address(dev, 3, 1), 4);
        Out(bed, Cfc, 0, 2);
        Assert.Equal(before, bed.ReadConfig(dev, 1) & 0xFFFF);
        bed.WriteCommand(dev, 0); // ECAM function 0 does reach it
        Assert.Equal(0u, bed.ReadConfig(dev, 1) & 0x3);
        bed.WriteCommand(dev, 0x3);
        bed.WriteConfig(dev, 1, 0, fn: 5); // ECAM honours the function number too
        Assert.Equal(0x3u, bed.ReadConfig(dev, 1) & 0x3);
    }

    [Fact]
    public void Ecam_reads_the_function_addressed()
    {
        var bed = new PciTestBed();
        int dev = bed.Root.AddDevice("dev", new TestPciDevice(new PciBarSpec(0, 0x1000, PciBarKind.Memory32)));
        Assert.Equal(0x0d57_8086u, bed.ReadConfig(0, 0));
        Assert.Equal(0x1234_1af4u, bed.ReadConfig(dev, 0));
        Assert.Equal(0xFFFF_FFFFu, bed.ReadConfig(dev, 0, fn: 1));
        Assert.Equal(0xFFFF_FFFFu, bed.ReadConfig(dev, 0, fn: 7));
        Assert.Equal(0xFFFF_FFFFu, bed.ReadConfig(31, 0));
    }

    [Theory]
    [InlineData(0UL, 3)]     // odd size
    [InlineData(0UL, 8)]     // wider than a dword
    [InlineData(3UL, 2)]     // crosses the dword
    [InlineData(2UL, 4)]
    public void Malformed_ecam_accesses_read_all_ones_and_write_nothing(ulong offset, int size)
    {
        var bed = new PciTestBed();
        var raw = new RawPciDevice(new PciBarSpec(0, 0x1000, PciBarKind.Memory32));
        int dev = bed.Root.AddDevice("raw", raw);
        int writesBefore = raw.ConfigWrites.Count;
        ulong address = PciLayout.EcamBase + PciTestBed.EcamOffset(dev, 0, 0) + offset;
        Assert.All(bed.Bus.Read(BusSpace.Mmio, address, size), b => Assert.Equal(0xFF, b));
        bed.Bus.Write(BusSpace.Mmio, address, new byte[size]);
        Assert.Equal(writesBefore, raw.ConfigWrites.Count);
    }

    [Fact]
    public void Ecam_bus_other_than_0_reads_all_ones()
    {
        var bed = new PciTestBed();
        var ecam = bed.Root.Ecam;
        var data = new byte[4];
        ecam.Read(1UL << 20, data); // bus 1, device 0: would be the host bridge on bus 0
        Assert.All(data, b => Assert.Equal(0xFF, b));
        ecam.Read(PciLayout.EcamSize, data);
        Assert.All(data, b => Assert.Equal(0xFF, b));
        ecam.Read(0, data);
        Assert.Equal(0x0d57_8086u, BitConverter.ToUInt32(data));
    }

    [Fact]
    public void Accesses_are_split_into_register_offset_and_bytes()
    {
        var bed = new PciTestBed();
        var raw = new RawPciDevice(new PciBarSpec(0, 0x1000, PciBarKind.Memory32));
        int dev = bed.Root.AddDevice("raw", raw);
        raw.ConfigWrites.Clear();
        bed.Bus.Write(BusSpace.Mmio, PciLayout.EcamBase + PciTestBed.EcamOffset(dev, 0, 1) + 2, new byte[] { 0x11, 0x22 });
        bed.Bus.Write(BusSpace.Mmio, PciLayout.EcamBase + PciTestBed.EcamOffset(dev, 0, 0x100) + 3, new byte[] { 0x33 });
        Out(bed, Cf8, Address(dev, 0, 15), 4);
        Out(bed, Cfc + 1, 0x44, 1);
        Assert.Collection(raw.ConfigWrites,
            w => { Assert.Equal((1, 2), (w.Register, w.Offset)); Assert.Equal(new byte[] { 0x11, 0x22 }, w.Data); },
            w => { Assert.Equal((0x100, 3), (w.Register, w.Offset)); Assert.Equal(new byte[] { 0x33 }, w.Data); },
            w => { Assert.Equal((15, 1), (w.Register, w.Offset)); Assert.Equal(new byte[] { 0x44 }, w.Data); });
    }

    [Fact]
    public void Extended_config_space_is_reachable_through_ecam_only()
    {
        var bed = new PciTestBed();
        var device = new TestPciDevice(new PciBarSpec(0, 0x1000, PciBarKind.Memory32));
        device.Configuration.SetRegister(0x100, 0xCAFE_F00D);
        int dev = bed.Root.AddDevice("dev", device);
        Assert.Equal(0xCAFE_F00Du, bed.ReadConfig(dev, 0x100));
        // 0xCF8's register field has 6 bits: register 0x100 wraps onto register 0 there.
        Out(bed, Cf8, Address(dev, 0, 0x100 & 0x3F), 4);
        Assert.Equal(0x1234_1af4u, In(bed, Cfc, 4));
    }
}
