namespace PluginVmm.Core.Hosting;

/// <summary>What the host's <c>/dev/kvm</c> can do for a VM.</summary>
public enum KvmAvailability
{
    /// <summary>A hardware-assisted KVM (kvm_intel or kvm_amd): Linux guests run.</summary>
    Usable,

    /// <summary>A KVM that only emulates instructions (kvm_pvm): tiny guests run, a Linux kernel does not.</summary>
    EmulatedOnly,

    /// <summary>No <c>/dev/kvm</c> node.</summary>
    Absent,

    /// <summary><c>/dev/kvm</c> exists but cannot be opened read/write by this user.</summary>
    NoAccess,
}

/// <summary>The probe's verdict and the one-line reason a user is shown.</summary>
public sealed record KvmProbeResult(KvmAvailability Availability, string Reason)
{
    /// <summary>True when a Linux guest can run directly on this host.</summary>
    public bool CanRunLinux => Availability == KvmAvailability.Usable;
}

/// <summary>
/// Tells whether this host's KVM can run a Linux guest. Opening the node is not enough: a paravirtual KVM
/// (<c>kvm_pvm</c>) opens and runs instruction-emulated guests, but only a hardware vendor module runs Linux at speed,
/// so the vendor modules under <c>/sys/module</c> decide.
/// </summary>
public static class KvmProbe
{
    /// <summary>The device node KVM is reached through.</summary>
    public const string DevicePath = "/dev/kvm";

    /// <summary>Probes the real host.</summary>
    public static KvmProbeResult Probe() => Probe(DevicePath, "/sys/module");

    /// <summary>Probes with another device node and module folder (tests).</summary>
    public static KvmProbeResult Probe(string devicePath, string moduleRoot)
    {
        bool Module(string name) => Directory.Exists(Path.Combine(moduleRoot, name));
        if (!File.Exists(devicePath))
        {
            return new(KvmAvailability.Absent, Module("kvm")
                ? $"{devicePath} is absent (the kvm module is loaded, but this host gives no device node)"
                : $"{devicePath} is absent (no kvm module on this host)");
        }
        try
        {
            using var f = new FileStream(devicePath, FileMode.Open, FileAccess.ReadWrite);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            return new(KvmAvailability.NoAccess, $"{devicePath} cannot be opened read/write: {e.Message}");
        }
        if (Module("kvm_intel") || Module("kvm_amd")) return new(KvmAvailability.Usable, $"{devicePath} is a hardware KVM");
        if (Module("kvm_pvm"))
        {
            return new(KvmAvailability.EmulatedOnly,
                $"{devicePath} is kvm_pvm, which only emulates instructions and cannot run a Linux guest");
        }
        // No vendor module visible (a container without /sys/module, say): trust the node.
        return new(KvmAvailability.Usable, $"{devicePath} opens (no vendor module visible to tell more)");
    }
}
