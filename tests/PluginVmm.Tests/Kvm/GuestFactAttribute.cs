using PluginVmm.Tests.Plugins;
using Xunit;

namespace PluginVmm.Tests.Kvm;

/// <summary>
/// A fact that boots a guest with the built `vmm` host (`vmm run`), which runs it directly on a hardware /dev/kvm or
/// nested where there is none; skipped, saying why, only when the host is not built or neither way can run a guest.
/// </summary>
public sealed class GuestFactAttribute : FactAttribute
{
    public GuestFactAttribute()
    {
        if (RepoLayout.UnavailableReason is { } host) Skip = host;
        else if (GuestBackend.UnavailableReason is { } guest) Skip = guest;
    }
}
