using PluginVmm.Core.Hosting;

namespace PluginVmm.Nested;

/// <summary>Where <c>vmm run</c> runs a VM.</summary>
internal enum BackendKind
{
    /// <summary>The host's KVM when it can run Linux, else the nested helper.</summary>
    Auto,

    /// <summary>The host's <c>/dev/kvm</c>, whatever it is.</summary>
    Kvm,

    /// <summary>A KVM inside the helper VM.</summary>
    Nested,
}

/// <summary>The choice between the host's KVM and the nested helper: <c>--backend</c>, else <c>PLUGINVMM_BACKEND</c>.</summary>
internal static class Backend
{
    public const string Option = "--backend";
    public const string EnvironmentVariable = "PLUGINVMM_BACKEND";

    /// <summary>Parses a backend name; null (with <paramref name="error"/>) for anything else.</summary>
    public static BackendKind? Parse(string text, string source, out string? error)
    {
        error = null;
        switch (text)
        {
            case "auto": return BackendKind.Auto;
            case "kvm": return BackendKind.Kvm;
            case "nested": return BackendKind.Nested;
            default:
                error = $"{source}: '{text}' is not a backend; use auto, kvm or nested";
                return null;
        }
    }

    /// <summary>
    /// The backend to use and, when auto chose the helper, the one line that says why and how to choose otherwise.
    /// </summary>
    public static (BackendKind Kind, string? Notice) Resolve(BackendKind requested, Func<KvmProbeResult> probe)
    {
        if (requested != BackendKind.Auto) return (requested, null);
        var kvm = probe();
        if (kvm.CanRunLinux) return (BackendKind.Kvm, null);
        return (BackendKind.Nested, $"vmm: {kvm.Reason}; running the VM inside the nested helper (QEMU TCG with nested SVM). " +
                                    $"{Option} kvm or {EnvironmentVariable}=kvm uses the host's KVM anyway.");
    }
}
