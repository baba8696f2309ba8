namespace PluginVmm.Core.Vm;

/// <summary>Why a VM ended.</summary>
public enum VmExitReason
{
    /// <summary>The guest powered off (KVM system event or ACPI).</summary>
    PowerOff,
    /// <summary>The guest asked for a reset (i8042 0xFE, KVM system event). PluginVmm does not reboot.</summary>
    Reset,
    /// <summary>Triple fault (KVM_EXIT_SHUTDOWN): how Linux reboots when nothing else works.</summary>
    TripleFault,
    /// <summary>A value written to the debug-exit port 0xf4.</summary>
    DebugExit,
    /// <summary>The guest reported a panic (pvpanic or a KVM crash event).</summary>
    GuestPanic,
    /// <summary>HLT with no way to wake up (no in-kernel irqchip).</summary>
    Halted,
    /// <summary>Stopped by the host (cancellation).</summary>
    Stopped,
    /// <summary>KVM or VMM failure: internal error, failed entry, unknown exit, ioctl error.</summary>
    Fatal,
}

/// <summary>How a VM ended and the process exit code that goes with it.</summary>
public sealed record VmExit(VmExitReason Reason, int ExitCode, string Detail)
{
    /// <summary>Exit code for fatal VMM/KVM failures.</summary>
    public const int FatalExitCode = 1;

    /// <summary>Default guest-panic exit code (ExitCodes.GuestPanic).</summary>
    public const int DefaultPanicExitCode = 4;

    /// <summary>Debug exit: code (value &lt;&lt; 1) | 1 like QEMU's isa-debug-exit.</summary>
    public static VmExit FromDebugExit(byte value) => new(VmExitReason.DebugExit, (value << 1) | 1, $"debug-exit port wrote 0x{value:x2}");

    /// <summary>A fatal failure (exit code 1).</summary>
    public static VmExit Fatal(string detail) => new(VmExitReason.Fatal, FatalExitCode, detail);

    /// <inheritdoc/>
    public override string ToString() => $"{Reason} (exit code {ExitCode}): {Detail}";
}
