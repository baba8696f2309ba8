namespace PluginVmm.Core.Pci;

/// <summary>A device cannot be attached to the PCI root (bad BAR specs, no address space left, a device that
/// throws or ignores its assignment). Raised before the guest runs; the message names the device.</summary>
public sealed class PciSetupException(string message, Exception? inner = null) : Exception(message, inner);
