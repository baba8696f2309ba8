using Xunit;

namespace PluginVmm.Tests.Kvm;

/// <summary>A fact that needs a usable /dev/kvm; skipped, saying why, when there is none.</summary>
public sealed class KvmFactAttribute : FactAttribute
{
    /// <summary>Why KVM tests cannot run here, or null when they can.</summary>
    public static string? UnavailableReason { get; } = Probe();

    public KvmFactAttribute()
    {
        if (UnavailableReason is { } why) Skip = $"no /dev/kvm: {why}";
    }

    private static string? Probe()
    {
        const string path = "/dev/kvm";
        if (!File.Exists(path)) return $"{path} does not exist";
        try
        {
            using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
            return null;
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            return $"{path} cannot be opened read/write: {e.Message}";
        }
    }
}
