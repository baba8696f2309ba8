namespace PluginVmm.Core.Hosting;

/// <summary>
/// Process exit codes of <c>vmm</c>. Debug-exit codes are always odd, so they never collide with 0, 2 or 4; a guest
/// writing 0 to the debug-exit port gives 1, the same as a VMM failure (as in QEMU's isa-debug-exit).
/// </summary>
public static class ExitCodes
{
    /// <summary>The guest powered off or reset.</summary>
    public const int GuestShutdown = 0;

    /// <summary>The VMM failed (KVM error, device failure, bug); a message is on stderr.</summary>
    public const int VmmError = 1;

    /// <summary>Bad user input: vmm.toml, command-line options or the plugin set. No VM was created.</summary>
    public const int ConfigError = 2;

    /// <summary>The guest reported a panic through pvpanic.</summary>
    public const int GuestPanic = 4;

    /// <summary>The guest wrote <paramref name="value"/> to the debug-exit port: exit code (value &lt;&lt; 1) | 1.</summary>
    public static int DebugExit(byte value) => (value << 1) | 1;
}
