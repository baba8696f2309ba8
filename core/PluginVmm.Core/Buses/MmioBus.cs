using Microsoft.Extensions.Logging;

namespace PluginVmm.Core.Buses;

/// <summary>Guest physical addresses not backed by a KVM memory slot (accesses of 1, 2, 4 or 8 bytes).</summary>
public sealed class MmioBus(ILogger? logger = null) : Bus("mmio", logger);
