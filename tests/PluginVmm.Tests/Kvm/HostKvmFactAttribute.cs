using PluginVmm.Tests.Plugins;
using Xunit;

namespace PluginVmm.Tests.Kvm;

/// <summary>A fact that runs the built `vmm` host on /dev/kvm; skipped, saying why, without either.</summary>
public sealed class HostKvmFactAttribute : FactAttribute
{
    public HostKvmFactAttribute()
    {
        if (KvmFactAttribute.UnavailableReason is { } kvm) Skip = $"no /dev/kvm: {kvm}";
        else if (RepoLayout.UnavailableReason is { } host) Skip = host;
    }
}
