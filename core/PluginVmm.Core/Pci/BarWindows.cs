using PluginVmm.Sdk.Pci;

namespace PluginVmm.Core.Pci;

/// <summary>The allocators BARs are placed in, and which windows each BAR kind may legally use.</summary>
public sealed class BarWindows
{
    /// <summary>Creates the set.</summary>
    public BarWindows(AddressAllocator pio, AddressAllocator mmio32, AddressAllocator mmio64)
    {
        Pio = pio;
        Mmio32 = mmio32;
        Mmio64 = mmio64;
    }

    /// <summary>Single-segment windows for a layout.</summary>
    public static BarWindows For(PciLayout layout) =>
        new(PciLayout.CreatePioAllocator(), PciLayout.CreateMmio32Allocators()[0], layout.CreateMmio64Allocators()[0]);

    /// <summary>I/O BARs.</summary>
    public AddressAllocator Pio { get; }

    /// <summary>32-bit BARs, ROMs, and 64-bit BARs the guest moves below 4 GiB.</summary>
    public AddressAllocator Mmio32 { get; }

    /// <summary>64-bit BARs.</summary>
    public AddressAllocator Mmio64 { get; }

    /// <summary>Where a BAR of <paramref name="kind"/> is placed initially.</summary>
    public AddressAllocator InitialFor(PciBarKind kind) => kind switch
    {
        PciBarKind.Io => Pio,
        PciBarKind.Memory64 => Mmio64,
        _ => Mmio32,
    };

    /// <summary>Windows the guest may move a BAR of <paramref name="kind"/> into: a 64-bit BAR may also go below 4 GiB.</summary>
    public IReadOnlyList<AddressAllocator> LegalFor(PciBarKind kind) => kind switch
    {
        PciBarKind.Io => [Pio],
        PciBarKind.Memory64 => [Mmio64, Mmio32],
        _ => [Mmio32],
    };

    /// <summary>The legal allocator whose window holds all of <paramref name="range"/>, or null.</summary>
    public AddressAllocator? WindowFor(PciBarKind kind, AddressRange range) =>
        LegalFor(kind).FirstOrDefault(a => a.Window.Contains(range));
}
