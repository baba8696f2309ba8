namespace PluginVmm.Plugins.Vfio;

/// <summary>What sysfs says about a host PCI function before VFIO opens it: whether it exists, its driver, its IOMMU group.</summary>
internal sealed class HostPciDevice(string address)
{
    public string SysfsPath { get; } = $"/sys/bus/pci/devices/{address}";

    public bool Exists => Directory.Exists(SysfsPath);

    /// <summary>Name of the bound driver ("vfio-pci"), or null.</summary>
    public string? Driver => LinkName("driver");

    /// <summary>The IOMMU group number (the name of /dev/vfio/N), or null without an IOMMU.</summary>
    public string? IommuGroup => LinkName("iommu_group");

    private string? LinkName(string link) =>
        new FileInfo(Path.Combine(SysfsPath, link)).LinkTarget is { } target ? Path.GetFileName(target) : null;
}
