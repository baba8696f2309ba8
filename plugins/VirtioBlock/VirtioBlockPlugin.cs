using System.ComponentModel.DataAnnotations;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Virtio;

[assembly: DeviceKind("virtio-block")]

namespace PluginVmm.Plugins.VirtioBlock;

/// <summary>Options of a <c>kind = "virtio-block"</c> device.</summary>
public sealed class VirtioBlockOptions : DeviceOptions
{
    /// <summary>Raw disk image; relative to the config file.</summary>
    [Required]
    [PathOption]
    public string Path { get; set; } = "";

    /// <summary>Refuse guest writes.</summary>
    public bool Readonly { get; set; }
}

/// <summary>Entry point of the virtio-block plugin.</summary>
public sealed class VirtioBlockPlugin : DevicePlugin<VirtioBlockOptions>
{
    // Queues offered with VIRTIO_BLK_F_MQ; Linux uses min(this, CPUs).
    private const int Queues = 4;

    /// <inheritdoc/>
    public override string Kind => "virtio-block";

    /// <inheritdoc/>
    public override string Description => "virtio 1.x block device (PCI 1af4:1042) over a raw image file";

    /// <inheritdoc/>
    protected override void Validate(VirtioBlockOptions options, IOptionsValidationContext context)
    {
        if (!File.Exists(options.Path)) context.Error("path", $"disk image '{options.Path}' does not exist");
    }

    /// <inheritdoc/>
    protected override IPciDevice Create(VirtioBlockOptions options, IDeviceContext context) =>
        new VirtioPciTransport(new VirtioBlockDevice(options.Path, options.Readonly, Queues, context.Name, context.Logger),
            context, classCode: 0x01, subclass: 0x80);
}
