namespace PluginVmm.Sdk.Memory;

/// <summary>A guest-supplied address range falls outside guest RAM.</summary>
public sealed class GuestMemoryException(ulong address, ulong length)
    : Exception($"guest range 0x{address:x}+0x{length:x} is outside guest RAM")
{
    /// <summary>Start of the refused range.</summary>
    public ulong Address { get; } = address;

    /// <summary>Length of the refused range.</summary>
    public ulong Length { get; } = length;
}
