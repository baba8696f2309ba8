using System.Buffers.Binary;

namespace PluginVmm.Core.Acpi;

/// <summary>
/// Resource descriptors for _CRS buffers (ACPI specification "Resource Data Types for ACPI"): the small I/O, IRQ and
/// End Tag descriptors, and the large Memory32Fixed and Word/DWord/QWord address-space descriptors. Address
/// space descriptors here are producers (bridge windows) with fixed, positively decoded min and max.
/// </summary>
public static class AmlResource
{
    // Address space descriptor general flags: bit 3 _MAF, bit 2 _MIF, bit 1 _DEC (0 = positive), bit 0 consumer.
    private const byte ProducerMinMaxFixed = 0x0C;
    private const byte SpaceMemory = 0, SpaceIo = 1, SpaceBusNumber = 2;

    /// <summary>Memory type-specific flags: bit 0 read-write; bits 2-1 _MEM (0 non-cacheable, 1 cacheable).</summary>
    public const byte MemoryReadWriteNonCacheable = 0x01, MemoryReadWriteCacheable = 0x03;

    /// <summary>IO(Decode16, min, max, alignment, length): small item 0x08, 16-bit decode.</summary>
    public static byte[] Io(ushort min, ushort max, byte alignment, byte length)
    {
        var d = new byte[8];
        d[0] = 0x47; // small item, name 0x08, length 7
        d[1] = 0x01; // decodes 16 address bits
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(2), min);
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(4), max);
        d[6] = alignment;
        d[7] = length;
        return d;
    }

    /// <summary>IRQNoFlags() { irqs }: small item 0x04 with a 16-bit mask; edge triggered, active high, exclusive.</summary>
    public static byte[] IrqNoFlags(params int[] irqs)
    {
        ushort mask = 0;
        foreach (var irq in irqs)
        {
            if (irq is < 0 or > 15) throw new ArgumentOutOfRangeException(nameof(irqs), irq, "ISA IRQs are 0-15");
            mask |= (ushort)(1 << irq);
        }
        return [0x22, (byte)mask, (byte)(mask >> 8)];
    }

    /// <summary>Memory32Fixed(ReadWrite, base, length): large item 0x06.</summary>
    public static byte[] Memory32Fixed(uint baseAddress, uint length)
    {
        var d = new byte[12];
        d[0] = 0x86;
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(1), 9);
        d[3] = 0x01; // read-write
        BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(4), baseAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(8), length);
        return d;
    }

    /// <summary>WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, first, last, 0, count).</summary>
    public static byte[] WordBusNumber(ushort first, ushort last) => Word(SpaceBusNumber, 0, first, last);

    /// <summary>WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, min, max, 0, length).</summary>
    public static byte[] WordIo(ushort min, ushort max) => Word(SpaceIo, 0x03, min, max);

    private static byte[] Word(byte space, byte typeFlags, ushort min, ushort max)
    {
        if (max < min) throw new ArgumentException($"range 0x{min:x}-0x{max:x} is empty");
        var d = new byte[16];
        d[0] = 0x88;
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(1), 13);
        d[3] = space;
        d[4] = ProducerMinMaxFixed;
        d[5] = typeFlags;
        // granularity 0 at 6, min at 8, max at 10, translation 0 at 12, length at 14
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(8), min);
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(10), max);
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(14), (ushort)(max - min + 1));
        return d;
    }

    /// <summary>DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, cacheability, ReadWrite, 0, min, max, 0, length).</summary>
    public static byte[] DWordMemory(uint min, uint max, byte typeFlags = MemoryReadWriteNonCacheable)
    {
        if (max < min) throw new ArgumentException($"range 0x{min:x}-0x{max:x} is empty");
        var d = new byte[26];
        d[0] = 0x87;
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(1), 23);
        d[3] = SpaceMemory;
        d[4] = ProducerMinMaxFixed;
        d[5] = typeFlags;
        // granularity 0 at 6, min at 10, max at 14, translation 0 at 18, length at 22
        BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(10), min);
        BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(14), max);
        BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(22), max - min + 1);
        return d;
    }

    /// <summary>QWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, cacheability, ReadWrite, 0, min, max, 0, length).</summary>
    public static byte[] QWordMemory(ulong min, ulong max, byte typeFlags = MemoryReadWriteCacheable)
    {
        if (max < min || (min == 0 && max == ulong.MaxValue)) throw new ArgumentException($"range 0x{min:x}-0x{max:x} is empty or unrepresentable");
        var d = new byte[46];
        d[0] = 0x8A;
        BinaryPrimitives.WriteUInt16LittleEndian(d.AsSpan(1), 43);
        d[3] = SpaceMemory;
        d[4] = ProducerMinMaxFixed;
        d[5] = typeFlags;
        // granularity 0 at 6, min at 14, max at 22, translation 0 at 30, length at 38
        BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(14), min);
        BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(22), max);
        BinaryPrimitives.WriteUInt64LittleEndian(d.AsSpan(38), max - min + 1);
        return d;
    }

    /// <summary>End Tag: small item 0x0F with checksum 0 ("treat as correct").</summary>
    public static byte[] EndTag() => [0x79, 0x00];
}
