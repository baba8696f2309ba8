namespace PluginVmm.Sdk.Pci;

/// <summary>BAR indices: 0..5 are the standard BAR slots; <see cref="Rom"/> is the expansion ROM BAR.</summary>
public static class PciBarIndex
{
    /// <summary>Index used for the expansion ROM BAR (config offset 0x30).</summary>
    public const int Rom = 6;

    /// <summary>True for 0..5 and <see cref="Rom"/>.</summary>
    public static bool IsValid(int index) => index is >= 0 and <= Rom;

    /// <summary>"BAR2", "ROM".</summary>
    public static string Name(int index) => index == Rom ? "ROM" : $"BAR{index}";
}
