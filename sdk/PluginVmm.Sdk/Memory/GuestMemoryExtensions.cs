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

    /// <summary>Reads a little-endian u16.</summary>
    public static ushort ReadU16(this IGuestMemory memory, ulong address)
    {
        Span<byte> b = stackalloc byte[2]; memory.Read(address, b); return BinaryPrimitives.ReadUInt16LittleEndian(b);
    }

    /// <summary>Reads a little-endian u32.</summary>
    public static uint ReadU32(this IGuestMemory memory, ulong address)
    {
        Span<byte> b = stackalloc byte[4]; memory.Read(address, b); return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    /// <summary>Reads a little-endian u64.</summary>
    public static ulong ReadU64(this IGuestMemory memory, ulong address)
    {
        Span<byte> b = stackalloc byte[8]; memory.Read(address, b); return BinaryPrimitives.ReadUInt64LittleEndian(b);
    }

    /// <summary>Writes a little-endian u16.</summary>
    public static void WriteU16(this IGuestMemory memory, ulong address, ushort value)
    {
        Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, value); memory.Write(address, b);
    }

    /// <summary>Writes a little-endian u32.</summary>
    public static void WriteU32(this IGuestMemory memory, ulong address, uint value)
    {
        Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, value); memory.Write(address, b);
    }

    /// <summary>Writes a little-endian u64.</summary>
    public static void WriteU64(this IGuestMemory memory, ulong address, ulong value)
    {
        Span<byte> b = stackalloc byte[8]; BinaryPrimitives.WriteUInt64LittleEndian(b, value); memory.Write(address, b);
    }
}
