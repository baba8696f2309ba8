using System.Buffers.Binary;
using System.Globalization;
using PluginVmm.Sdk.Pci;

namespace PluginVmm.Plugins.Vfio;

/// <summary>A host PCI device as sysfs describes it: identity from its config file, BARs from its resource file.</summary>
internal sealed class HostPciDevice(string address)
{
    // include/linux/ioport.h resource flags, as printed in the third column of sysfs "resource".
    private const ulong ResourceIo = 0x100, ResourceMem = 0x200, ResourcePrefetch = 0x2000, ResourceMem64 = 0x10_0000;

    public string SysfsPath { get; } = $"/sys/bus/pci/devices/{address}";

    public bool Exists => Directory.Exists(SysfsPath);

    public string? Driver
    {
        get
        {
            var link = new FileInfo(Path.Combine(SysfsPath, "driver"));
            return link.LinkTarget is { } target ? Path.GetFileName(target) : null;
        }
    }

    /// <summary>The first 64 bytes of the host config space (identity and header).</summary>
    public byte[] ReadHeader()
    {
        byte[] header = new byte[64];
        using var file = File.OpenRead(Path.Combine(SysfsPath, "config"));
        file.ReadExactly(header);
        return header;
    }

    /// <summary>BARs with their sizes and kinds, skipping unimplemented ones.</summary>
    public IReadOnlyList<PciBarSpec> ReadBars()
    {
        var bars = new List<PciBarSpec>();
        string[] lines = File.ReadAllLines(Path.Combine(SysfsPath, "resource"));
        for (int i = 0; i < Math.Min(lines.Length, PciBarIndex.Rom + 1); i++)
        {
            string[] f = lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 3) continue;
            ulong start = Hex(f[0]), end = Hex(f[1]), flags = Hex(f[2]);
            if (end <= start) continue;
            ulong size = end - start + 1;
            PciBarKind kind = i == PciBarIndex.Rom ? PciBarKind.Rom
                : (flags & ResourceIo) != 0 ? PciBarKind.Io
                : (flags & ResourceMem64) != 0 ? PciBarKind.Memory64
                : (flags & ResourceMem) != 0 ? PciBarKind.Memory32 : PciBarKind.Memory32;
            var spec = new PciBarSpec(i, size, kind, (flags & ResourcePrefetch) != 0);
            if (spec.Validate() is null) bars.Add(spec);
        }
        return bars;
    }

    public static ushort U16(byte[] header, int offset) => BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(offset));

    private static ulong Hex(string text) => ulong.Parse(text.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
}
