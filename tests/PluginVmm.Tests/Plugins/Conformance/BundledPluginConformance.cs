using PluginVmm.Core.Plugins;
using PluginVmm.Plugins.VirtioNet;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Testing;
using PluginVmm.Sdk.Testing.Conformance;
using PluginVmm.Sdk.Virtio;
using PluginVmm.Tests.Virtio;

namespace PluginVmm.Tests.Plugins.Conformance;

/// <summary>
/// The bundled plugins as the host loads them: each from its own folder under the built host's plugins/ (its own
/// load context, the SDK shared), so the conformance tests drive the very assembly `vmm run` uses, created through
/// its IDevicePlugin with the kit's fake device context. No project reference is needed, so the test project
/// cannot change the plugin folder layout.
/// </summary>
internal static class HostPlugins
{
    private static readonly Lazy<PluginCatalog> Catalog = new(() => PluginCatalog.Load(RepoLayout.HostPlugins));

    /// <summary>Why the host's plugins cannot be loaded here, or null.</summary>
    public static string? UnavailableReason => RepoLayout.UnavailableReason;

    /// <summary>Creates a device of <paramref name="kind"/> with options set by <paramref name="configure"/> (property name → value).</summary>
    public static IPciDevice Create(string kind, IDeviceContext context, params (string Property, object Value)[] configure)
    {
        var plugin = Catalog.Value.Find(kind)?.Plugin ?? throw new InvalidOperationException($"no plugin of kind '{kind}' in {RepoLayout.HostPlugins}");
        var options = (DeviceOptions)Activator.CreateInstance(plugin.OptionsType)!;
        foreach (var (property, value) in configure) plugin.OptionsType.GetProperty(property)!.SetValue(options, value);
        return plugin.Create(options, context);
    }
}

public sealed class PvPanicConformance : PciDeviceConformanceTests
{
    public static string? UnavailableReason => HostPlugins.UnavailableReason;

    protected override IPciDevice CreateDevice(TestDeviceContext context) => HostPlugins.Create("pvpanic", context);
}

public sealed class PvMemControlConformance : PciDeviceConformanceTests
{
    public static string? UnavailableReason => HostPlugins.UnavailableReason;

    protected override IPciDevice CreateDevice(TestDeviceContext context) => HostPlugins.Create("pvmemcontrol", context);
}

/// <summary>ivshmem's shared file is the kit's in-memory host memory (FakeBarResources.MapFile touches no file).</summary>
public sealed class IvshmemConformance : PciDeviceConformanceTests
{
    public static string? UnavailableReason => HostPlugins.UnavailableReason;

    protected override IPciDevice CreateDevice(TestDeviceContext context) =>
        HostPlugins.Create("ivshmem", context, ("Path", "/nonexistent/ivshmem-conformance"), ("SizeMib", 1));
}

/// <summary>virtio-block over a temp raw image.</summary>
public sealed class VirtioBlockConformance : VirtioDeviceConformanceTests
{
    private readonly string _image = Path.GetTempFileName();

    public static string? UnavailableReason => HostPlugins.UnavailableReason;

    protected override IPciDevice CreateDevice(TestDeviceContext context)
    {
        File.WriteAllBytes(_image, new byte[64 * 1024]);
        return HostPlugins.Create("virtio-block", context, ("Path", _image));
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        File.Delete(_image);
    }
}

/// <summary>
/// virtio-net: the plugin's Create opens (as root: creates) a host TAP interface, so this builds the same function
/// from the plugin's public types over the fake backend the virtio-net tests use.
/// </summary>
public sealed class VirtioNetConformance : VirtioDeviceConformanceTests
{
    private readonly FakeNetBackend _backend = new();

    protected override IPciDevice CreateDevice(TestDeviceContext context) =>
        new VirtioPciTransport(new VirtioNetDevice(_backend, [0x52, 0x54, 0, 0x12, 0x34, 0x56], context.Logger), context, classCode: 0x02, subclass: 0x00);

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        _backend.Dispose();
    }
}

/// <summary>VFIO passes a real host function through: set PLUGINVMM_VFIO_HOST to a device bound to vfio-pci to run these.</summary>
public sealed class VfioConformance : PciDeviceConformanceTests
{
    private static string? Host => Environment.GetEnvironmentVariable("PLUGINVMM_VFIO_HOST");

    public static string? UnavailableReason =>
        HostPlugins.UnavailableReason
        ?? (string.IsNullOrEmpty(Host) ? "VFIO conformance needs a host PCI function bound to vfio-pci: set PLUGINVMM_VFIO_HOST=0000:bb:dd.f" : null);

    protected override IPciDevice CreateDevice(TestDeviceContext context)
    {
        // The function's BAR regions are really mapped, as the core maps them for a VM.
        context.FakeResources.FdMapper = PluginVmm.Core.Memory.HostMemory.MapFd;
        return HostPlugins.Create("vfio", context, ("Host", Host!));
    }
}
