using System.ComponentModel.DataAnnotations;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;

[assembly: DeviceKind("ivshmem")]

namespace PluginVmm.Plugins.Ivshmem;

/// <summary>Options of a <c>kind = "ivshmem"</c> device.</summary>
public sealed class IvshmemOptions : DeviceOptions
{
    /// <summary>Host file shared with the guest (created or extended to <see cref="SizeMib"/>).</summary>
    [Required]
    [PathOption]
    public string Path { get; set; } = "";

    /// <summary>Shared memory size in MiB, a power of two.</summary>
    public int SizeMib { get; set; } = 1;
}

/// <summary>Entry point of the ivshmem-plain plugin.</summary>
public sealed class IvshmemPlugin : DevicePlugin<IvshmemOptions>
{
    /// <inheritdoc/>
    public override string Kind => "ivshmem";

    /// <inheritdoc/>
    public override string Description => "ivshmem-plain shared memory (PCI 1af4:1110), BAR2 backed by a host file";

    /// <inheritdoc/>
    protected override void Validate(IvshmemOptions options, IOptionsValidationContext context)
    {
        if (options.SizeMib is < 1 or > 65536 || (options.SizeMib & (options.SizeMib - 1)) != 0)
            context.Error("size_mib", $"size_mib must be a power of two from 1 to 65536, not {options.SizeMib}");
        string? dir = Path.GetDirectoryName(options.Path);
        if (string.IsNullOrEmpty(options.Path) || (dir is not null && !Directory.Exists(dir)))
            context.Error("path", $"the folder of '{options.Path}' does not exist");
    }

    /// <inheritdoc/>
    protected override IPciDevice Create(IvshmemOptions options, IDeviceContext context) =>
        new IvshmemDevice(context, context.BarResources.MapFile(
            options.Path, (ulong)options.SizeMib << 20));
}
