using System.Buffers.Binary;
using System.Text;
using PluginVmm.Sdk.Memory;

namespace PluginVmm.Core.Acpi;

/// <summary>
/// Writes the guest's ACPI tables: RSDP (revision 2) → XSDT → FADT (→ DSDT), MADT, MCFG. Linux finds the RSDP by
/// scanning 0xE0000-0xFFFFF (and through boot_params.acpi_rsdp_addr / hvm_start_info.rsdp_paddr as well).
/// </summary>
public static class AcpiTables
{
    /// <summary>Length of a revision 2 RSDP.</summary>
    public const int RsdpLength = 36;

    /// <summary>Tables start on this boundary.</summary>
    private const ulong TableAlignment = 16;

    /// <summary>
    /// Writes every table into <paramref name="memory"/> from <see cref="AcpiLayout.RsdpAddress"/> on and returns
    /// the RSDP address. The area up to <see cref="AcpiLayout.TablesEnd"/> must be guest RAM that the e820 map does
    /// not report as usable RAM (0xE0000-0xFFFFF is not, on a PC map). Throws <see cref="ArgumentException"/> for an
    /// invalid layout and <see cref="InvalidOperationException"/> when the tables do not fit or the area is not RAM.
    /// </summary>
    public static ulong Write(IGuestMemory memory, AcpiLayout layout)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(layout);
        layout.Validate();
        if (layout.RsdpAddress % TableAlignment != 0)
            throw new ArgumentException($"RSDP address 0x{layout.RsdpAddress:x} must be 16-byte aligned (Linux scans 16-byte boundaries)");

        var placed = new List<(ulong Address, byte[] Bytes)>();
        var next = Align(layout.RsdpAddress + RsdpLength);
        ulong Place(byte[] table)
        {
            var at = next;
            placed.Add((at, table));
            next = Align(at + (ulong)table.Length);
            return at;
        }

        var dsdt = Place(AcpiDsdt.Table(layout));
        var fadt = Place(AcpiFadt.Table(layout, dsdt));
        var madt = Place(AcpiMadt.Table(layout));
        var mcfg = Place(AcpiMcfg.Table(layout));
        var xsdt = Place(Xsdt([fadt, madt, mcfg]));
        placed.Add((layout.RsdpAddress, Rsdp(xsdt)));

        if (next > layout.TablesEnd)
            throw new InvalidOperationException($"ACPI tables need 0x{layout.RsdpAddress:x}-0x{next:x}, beyond 0x{layout.TablesEnd:x}");
        if (!memory.Contains(layout.RsdpAddress, next - layout.RsdpAddress))
            throw new InvalidOperationException($"ACPI tables at 0x{layout.RsdpAddress:x}-0x{next:x} are not in guest RAM");
        foreach (var (address, bytes) in placed) memory.Write(address, bytes);
        return layout.RsdpAddress;
    }

    /// <summary>XSDT: header plus one 64-bit address per table (the DSDT is reached through the FADT).</summary>
    public static byte[] Xsdt(IEnumerable<ulong> tables)
    {
        var t = new AcpiTable("XSDT", 1);
        foreach (var address in tables) t.U64(address);
        return t.ToArray();
    }

    /// <summary>
    /// RSDP revision 2: "RSD PTR ", checksum over the first 20 bytes, OEMID, revision 2, RSDT address 0 (no RSDT),
    /// length 36, XSDT address, extended checksum over all 36 bytes.
    /// </summary>
    public static byte[] Rsdp(ulong xsdtAddress)
    {
        var r = new byte[RsdpLength];
        Encoding.ASCII.GetBytes("RSD PTR ").CopyTo(r, 0);
        Encoding.ASCII.GetBytes(AcpiTable.OemId.PadRight(6)[..6]).CopyTo(r, 9);
        r[15] = 2;
        BinaryPrimitives.WriteUInt32LittleEndian(r.AsSpan(16), 0);
        BinaryPrimitives.WriteUInt32LittleEndian(r.AsSpan(20), RsdpLength);
        BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(24), xsdtAddress);
        r[8] = AcpiTable.Checksum(r.AsSpan(0, 20));
        r[32] = AcpiTable.Checksum(r);
        return r;
    }

    private static ulong Align(ulong value) => (value + TableAlignment - 1) & ~(TableAlignment - 1);
}
