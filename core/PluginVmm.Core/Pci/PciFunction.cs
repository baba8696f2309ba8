using PluginVmm.Sdk.Pci;

namespace PluginVmm.Core.Pci;

/// <summary>One device on the bus (function 0 of a slot) as the core tracks it.</summary>
internal sealed class PciFunction
{
    private const int DecodeIo = 1, DecodeMemory = 2, DecodeRom = 4;
    private volatile int _decode;
    private volatile bool _fenced;

    public PciFunction(int deviceNumber, string name, IPciDevice device, BarResources? resources, string? plugin = null)
    {
        DeviceNumber = deviceNumber;
        Name = name;
        Label = plugin is null ? name : $"{name} (plugin {plugin})";
        Device = device;
        Resources = resources;
    }

    public int DeviceNumber { get; }

    public string Name { get; }

    /// <summary>The name with the plugin that provides the device, for fault messages ("faulty0 (plugin Acme.Faulty)").</summary>
    public string Label { get; }

    public IPciDevice Device { get; }

    public BarResources? Resources { get; }

    /// <summary>Serialises every call into the device (config and BAR accesses).</summary>
    public object Lock { get; } = new();

    /// <summary>Records by BAR index (0..5, ROM); null for unused slots.</summary>
    public BarRecord?[] Bars { get; } = new BarRecord?[PciBarIndex.Rom + 1];

    /// <summary>A fenced device answers nothing: config reads all-ones, writes and BAR accesses dropped.</summary>
    public bool Fenced => _fenced;

    public void MarkFenced() => _fenced = true;

    public IEnumerable<BarRecord> BarRecords => Bars.Where(b => b is not null)!;

    /// <summary>
    /// Whether the device decodes accesses to BAR <paramref name="index"/> now. Cached from COMMAND (and the ROM
    /// enable bit) after every config write, so the data path does not call into the device to decide.
    /// </summary>
    public bool IsDecoding(int index)
    {
        if (_fenced || Bars[index] is not { } bar) return false;
        int d = _decode;
        return bar.Spec.Kind switch
        {
            PciBarKind.Io => (d & DecodeIo) != 0,
            PciBarKind.Rom => (d & DecodeMemory) != 0 && (d & DecodeRom) != 0,
            _ => (d & DecodeMemory) != 0,
        };
    }

    /// <summary>Re-reads COMMAND and the ROM enable bit from the device. Call under <see cref="Lock"/>; may throw (device code).</summary>
    public void RefreshDecode()
    {
        uint command = Device.ReadConfigRegister(1);
        int d = 0;
        if ((command & 0x1) != 0) d |= DecodeIo;
        if ((command & 0x2) != 0) d |= DecodeMemory;
        if (Bars[PciBarIndex.Rom] is not null && (Device.ReadConfigRegister(12) & 1) != 0) d |= DecodeRom;
        _decode = d;
    }

    /// <summary>
    /// The address config space reports for a BAR (both dwords of a 64-bit BAR), with the type bits masked off.
    /// May throw (device code).
    /// </summary>
    public ulong ReadBarAddressFromConfig(BarRecord bar)
    {
        switch (bar.Spec.Kind)
        {
            case PciBarKind.Io:
                return Device.ReadConfigRegister(4 + bar.Index) & 0xFFFF_FFFCu;
            case PciBarKind.Memory32:
                return Device.ReadConfigRegister(4 + bar.Index) & 0xFFFF_FFF0u;
            case PciBarKind.Memory64:
                ulong low = Device.ReadConfigRegister(4 + bar.Index) & 0xFFFF_FFF0u;
                ulong high = Device.ReadConfigRegister(5 + bar.Index);
                return high << 32 | low;
            default:
                return Device.ReadConfigRegister(12) & 0xFFFF_F800u;
        }
    }
}
