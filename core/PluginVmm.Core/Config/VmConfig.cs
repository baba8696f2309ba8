namespace PluginVmm.Core.Config;

/// <summary>A validated VM description: every path exists and is absolute, every device is bound to its plugin.</summary>
public sealed record VmConfig
{
    /// <summary>The config file as the user named it (used in messages).</summary>
    public required string ConfigPath { get; init; }

    /// <summary>Absolute folder of the config file; relative paths in it resolve against this.</summary>
    public required string ConfigDirectory { get; init; }

    /// <summary>Guest RAM in MiB.</summary>
    public required int MemoryMib { get; init; }

    /// <summary>Guest RAM in bytes.</summary>
    public ulong MemoryBytes => (ulong)MemoryMib << 20;

    /// <summary>Number of vCPUs.</summary>
    public required int Vcpus { get; init; }

    /// <summary>Absolute path of the kernel (PVH ELF or bzImage).</summary>
    public required string KernelPath { get; init; }

    /// <summary>Absolute path of the initramfs, or null.</summary>
    public string? InitramfsPath { get; init; }

    /// <summary>Kernel command line.</summary>
    public required string Cmdline { get; init; }

    /// <summary>Absolute folder the device plugins were loaded from.</summary>
    public required string PluginsDir { get; init; }

    /// <summary>Devices in file order.</summary>
    public required IReadOnlyList<DeviceConfig> Devices { get; init; }
}
