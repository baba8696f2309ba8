namespace PluginVmm.Core.Boot;

/// <summary>
/// A kernel image, command line or initramfs that cannot be booted with the Linux x86 boot protocol: not a
/// bzImage, a protocol too old, truncated, or not fitting guest RAM. The message says which and why.
/// </summary>
public sealed class LinuxImageException(string message) : Exception(message);
