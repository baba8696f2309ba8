using System.Buffers.Binary;

namespace PluginVmm.Plugins.Vfio;

/// <summary>The MSI-X capability of the host function: where it is and where its table and PBA live.</summary>
internal sealed record VfioMsixLayout(int CapabilityOffset, int Vectors, int TableBar, uint TableOffset, int PbaBar, uint PbaOffset)
{
    /// <summary>The table and PBA ranges inside BAR <paramref name="bar"/> (for keeping them out of memory slots).</summary>
    public IEnumerable<VfioMmapArea> RangesIn(int bar)
    {
        if (TableBar == bar) yield return new VfioMmapArea(TableOffset, (ulong)Vectors * 16);
        if (PbaBar == bar) yield return new VfioMmapArea(PbaOffset, (ulong)(Vectors + 63) / 64 * 8);
    }
}

/// <summary>The host function's MSI capability (per PCI 3.0 §6.8.1): offset and shape.</summary>
internal sealed record VfioMsiLayout(int CapabilityOffset, int Vectors, bool Is64Bit, bool PerVectorMask)
{
    /// <summary>Bytes of the capability structure (10, 14, 20 or 24).</summary>
    public int Length => (Is64Bit ? 14 : 10) + (PerVectorMask ? 10 : 0);

    /// <summary>Offset of the Message Data register within the capability.</summary>
    public int DataOffset => Is64Bit ? 12 : 8;
}

/// <summary>Reads the capability list of a config space (conventional area, bytes 0x40..0xFF).</summary>
internal static class VfioCapabilities
{
    public const byte MsiId = 0x05, MsixId = 0x11;

    /// <summary>Offset of the first capability with <paramref name="id"/>, or 0. A looping or wild list ends the walk.</summary>
    public static int Find(ReadOnlySpan<byte> config, byte id)
    {
        if (config.Length < 0x100 || (config[6] & 0x10) == 0) return 0; // STATUS: no capabilities list
        int offset = config[0x34] & 0xFC;
        for (int hops = 0; offset >= 0x40 && offset < 0x100 && hops < 48; hops++)
        {
            if (config[offset] == id) return offset;
            offset = config[offset + 1] & 0xFC;
        }
        return 0;
    }

    /// <summary>The MSI-X layout, or null when the function has no (valid) MSI-X capability.</summary>
    public static VfioMsixLayout? Msix(ReadOnlySpan<byte> config)
    {
        int cap = Find(config, MsixId);
        if (cap == 0 || cap + 12 > 0x100) return null;
        int vectors = (BinaryPrimitives.ReadUInt16LittleEndian(config[(cap + 2)..]) & 0x7FF) + 1;
        uint table = BinaryPrimitives.ReadUInt32LittleEndian(config[(cap + 4)..]);
        uint pba = BinaryPrimitives.ReadUInt32LittleEndian(config[(cap + 8)..]);
        if ((table & 7) > 5 || (pba & 7) > 5) return null;
        return new VfioMsixLayout(cap, vectors, (int)(table & 7), table & ~7u, (int)(pba & 7), pba & ~7u);
    }

    /// <summary>The MSI layout, or null when the function has no MSI capability.</summary>
    public static VfioMsiLayout? Msi(ReadOnlySpan<byte> config)
    {
        int cap = Find(config, MsiId);
        if (cap == 0) return null;
        ushort control = BinaryPrimitives.ReadUInt16LittleEndian(config[(cap + 2)..]);
        var layout = new VfioMsiLayout(cap, 1 << Math.Min((control >> 1) & 7, 5), (control & 0x80) != 0, (control & 0x100) != 0);
        return cap + layout.Length <= 0x100 ? layout : null;
    }
}
