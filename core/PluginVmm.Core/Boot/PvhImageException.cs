namespace PluginVmm.Core.Boot;

/// <summary>
/// A kernel the PVH loader cannot boot: not ELF, truncated or inconsistent headers, no PVH entry note, or
/// segments/arguments that do not fit guest RAM. The message says which and why.
/// </summary>
public sealed class PvhImageException(string message) : Exception(message);
