namespace PluginVmm.Core.Pci;

/// <summary>
/// ECAM (memory-mapped config) for one segment; map it at <see cref="PciLayout.EcamForSegment"/> (1 MiB, bus 0)
/// or over the whole <see cref="PciLayout.EcamWindow"/>. Offset = bus &lt;&lt; 20 | device &lt;&lt; 15 | function
/// &lt;&lt; 12 | register byte (4 KiB per function). Accesses of 1, 2 or 4 bytes within one dword go to the
/// function addressed — the function number is honoured, unlike cloud-hypervisor, which sends them all to
/// function 0. Any other access, and any bus but 0, reads all ones and writes nothing.
/// </summary>
public sealed class PciEcamHandler : IBusRangeHandler
{
    private readonly PciRoot _root;

    internal PciEcamHandler(PciRoot root) => _root = root;

    /// <inheritdoc/>
    public void Read(ulong offset, Span<byte> data)
    {
        if (!Decode(offset, data.Length, out int bus, out int device, out int function, out int register))
        {
            data.Fill(0xFF);
            return;
        }
        PciConfigIoHandler.Extract(_root.ReadConfig(bus, device, function, register), (int)(offset & 3), data);
    }

    /// <inheritdoc/>
    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (Decode(offset, data.Length, out int bus, out int device, out int function, out int register))
            _root.WriteConfig(bus, device, function, register, (int)(offset & 3), data);
    }

    private static bool Decode(ulong offset, int length, out int bus, out int device, out int function, out int register)
    {
        bus = device = function = register = 0;
        if (!PciConfigIoHandler.ValidSize(length) || offset >= PciLayout.EcamSize || (offset & 3) + (ulong)length > 4) return false;
        bus = (int)(offset >> 20) & 0xFF;
        device = (int)(offset >> 15) & 0x1F;
        function = (int)(offset >> 12) & 7;
        register = (int)(offset >> 2) & 0x3FF;
        return true;
    }
}
