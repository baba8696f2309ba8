namespace PluginVmm.Core.Buses;

/// <summary>A registration overlaps an existing one, is empty, or wraps past the end of the address space.</summary>
public sealed class BusConflictException(string message) : Exception(message);
