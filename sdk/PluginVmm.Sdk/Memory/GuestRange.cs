namespace PluginVmm.Sdk.Memory;

/// <summary>A guest-physical byte range: one element of a vectored transfer (<see cref="IGuestMemoryFileIo"/>).</summary>
public readonly record struct GuestRange(ulong Address, int Length);
