using System.Buffers.Binary;

namespace PluginVmm.Sdk.Memory;

/// <summary>Little-endian scalar access and throwing variants on top of <see cref="IGuestMemory"/>.</summary>
public static class GuestMemoryExtensions
{
    /// <summary>Reads or throws <see cref="GuestMemoryException"/>.</summary>
    public static void Read(this IGuestMemory memory, ulong address, Span<byte> destination)
    {
        if (!memory.TryRead(address, destination)) throw new GuestMemoryException(address, (ulong)destination.Length);
    }

    /// <summary>Writes or throws <see cref="GuestMemoryException"/>.</summary>
    public static void Write(this IGuestMemory memory, ulong address, ReadOnlySpan<byte> source)
    {
        if (!memory.TryWrite(address, source)) throw new GuestMemoryException(address, (ulong)source.Length);
    }

    // A naturally aligned scalar is read or written as one access, as a CPU's load or store would be, so a thread on
    // the other side of a ring (the device, or a test driver) never sees half of an update: a byte-wise copy can show
    // a 16-bit ring index torn between its old and new value. Unaligned ones (no ring field is) go through a copy.

    /// <summary>Reads a little-endian u16 (one access when 2-byte aligned).</summary>
    public static ushort ReadU16(this IGuestMemory memory, ulong address)
    {
        if (address % 2 == 0) return BinaryPrimitives.ReadUInt16LittleEndian(memory.GetSpan(address, 2));
        Span<byte> b = stackalloc byte[2]; memory.Read(address, b); return BinaryPrimitives.ReadUInt16LittleEndian(b);
    }

    /// <summary>Reads a little-endian u32 (one access when 4-byte aligned).</summary>
    public static uint ReadU32(this IGuestMemory memory, ulong address)
    {
        if (address % 4 == 0) return BinaryPrimitives.ReadUInt32LittleEndian(memory.GetSpan(address, 4));
        Span<byte> b = stackalloc byte[4]; memory.Read(address, b); return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    /// <summary>Reads a little-endian u64 (one access when 8-byte aligned).</summary>
    public static ulong ReadU64(this IGuestMemory memory, ulong address)
    {
        if (address % 8 == 0) return BinaryPrimitives.ReadUInt64LittleEndian(memory.GetSpan(address, 8));
        Span<byte> b = stackalloc byte[8]; memory.Read(address, b); return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    /// <summary>Writes a little-endian u16 (one access when 2-byte aligned).</summary>
    public static void WriteU16(this IGuestMemory memory, ulong address, ushort value)
    {
        if (address % 2 == 0)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(memory.GetSpan(address, 2), value);
            return;
        }
        Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, value); memory.Write(address, b);
    }

    /// <summary>Writes a little-endian u32 (one access when 4-byte aligned).</summary>
    public static void WriteU32(this IGuestMemory memory, ulong address, uint value)
    {
        if (address % 4 == 0)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(memory.GetSpan(address, 4), value);
            return;
        }
        Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, value); memory.Write(address, b);
    }

    /// <summary>Writes a little-endian u64 (one access when 8-byte aligned).</summary>
    public static void WriteU64(this IGuestMemory memory, ulong address, ulong value)
    {
        if (address % 8 == 0)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(memory.GetSpan(address, 8), value);
            return;
        }
        Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, value); memory.Write(address, b);
    }
}
