using Microsoft.Extensions.Logging;

namespace PluginVmm.Core.Buses;

/// <summary>The x86 I/O port space (addresses 0..0xFFFF; accesses of 1, 2 or 4 bytes).</summary>
public sealed class PioBus(ILogger? logger = null) : Bus("pio", logger);
