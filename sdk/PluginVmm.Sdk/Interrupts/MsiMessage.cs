namespace PluginVmm.Sdk.Interrupts;

/// <summary>An MSI message as programmed by the guest (address and data of an MSI-X table entry).</summary>
public readonly record struct MsiMessage(ulong Address, uint Data);
