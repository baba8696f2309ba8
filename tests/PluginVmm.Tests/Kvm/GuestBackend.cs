using PluginVmm.Core.Hosting;

namespace PluginVmm.Tests.Kvm;

/// <summary>
/// Whether this host can run a guest under the built `vmm` host, and how: `vmm run` boots it directly on /dev/kvm when
/// that is a hardware KVM, and otherwise inside a nested helper VM (QEMU TCG with nested SVM), which needs
/// qemu-system-x86_64 and virtiofsd. The one place every guest test attribute asks.
/// </summary>
internal static class GuestBackend
{

    /// <summary>What /dev/kvm is on this host.</summary>
    public static KvmProbeResult Kvm { get; } = KvmProbe.Probe();

    /// <summary>qemu-system-x86_64 found on PATH, or null.</summary>
    public static string? Qemu { get; } = OnPath("qemu-system-x86_64");

    /// <summary>Why no guest can run here at all, or null when one can (directly or nested).</summary>
    public static string? UnavailableReason { get; } = Probe();

    private static string? Probe()
    {
        if (Kvm.CanRunLinux) return null;
        var missing = new List<string>();
        if (Qemu is null) missing.Add("no qemu-system-x86_64 on PATH (apt-get install qemu-system-x86)");
        if (PluginVmm.Nested.HelperVm.Virtiofsd is null) missing.Add($"no virtiofsd at {string.Join(" or ", PluginVmm.Nested.HelperVm.VirtiofsdPaths)} (apt-get install qemu-system-common)");
        return missing.Count == 0 ? null
            : $"no guest can run here: {Kvm.Reason}; the nested backend `vmm run` uses without a hardware KVM needs "
              + $"qemu-system-x86 and qemu-system-common: {string.Join("; ", missing)}";
    }

    private static string? OnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);
}
