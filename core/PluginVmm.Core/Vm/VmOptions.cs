namespace PluginVmm.Core.Vm;

/// <summary>What <see cref="VirtualMachine.Create"/> needs. Config parsing lives elsewhere; this is the validated result.</summary>
public sealed record VmOptions
{
    /// <summary>Guest RAM in bytes (RAM beyond 3 GiB is placed above 4 GiB).</summary>
    public ulong MemoryBytes { get; init; } = 128UL << 20;

    /// <summary>Number of vCPUs (vCPU 0 boots; the others wait for INIT/SIPI in the in-kernel LAPIC).</summary>
    public int Vcpus { get; init; } = 1;

    /// <summary>Kernel: a PVH ELF or a bzImage. Null: no kernel is loaded (the caller sets up the vCPU itself).</summary>
    public string? KernelPath { get; init; }

    /// <summary>Optional initramfs.</summary>
    public string? InitramfsPath { get; init; }

    /// <summary>Kernel command line.</summary>
    public string Cmdline { get; init; } = "";

    /// <summary>Where COM1 output goes; null means the process's stdout.</summary>
    public Stream? SerialOutput { get; init; }

    /// <summary>Exit code used when the guest reports a panic.</summary>
    public int GuestPanicExitCode { get; init; } = VmExit.DefaultPanicExitCode;

    /// <summary>/dev/kvm path.</summary>
    public string KvmPath { get; init; } = "/dev/kvm";
}
