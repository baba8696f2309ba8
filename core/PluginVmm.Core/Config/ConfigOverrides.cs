namespace PluginVmm.Core.Config;

/// <summary>
/// Command-line values that replace file values. Each is validated like the file value, and its errors name
/// the option (<see cref="KernelOption"/> etc.) instead of a file position. Relative paths resolve against the
/// current directory, as any path typed on a command line.
/// </summary>
public sealed record ConfigOverrides
{
    /// <summary>Option names used in messages.</summary>
    public const string KernelOption = "--kernel", CmdlineOption = "--cmdline", MemoryOption = "--memory",
        VcpusOption = "--vcpus", PluginsDirOption = "--plugins-dir";

    /// <summary>Replaces <c>vm.kernel</c>.</summary>
    public string? Kernel { get; init; }

    /// <summary>Replaces <c>vm.cmdline</c>.</summary>
    public string? Cmdline { get; init; }

    /// <summary>Replaces <c>vm.memory_mib</c>.</summary>
    public long? MemoryMib { get; init; }

    /// <summary>Replaces <c>vm.vcpus</c>.</summary>
    public long? Vcpus { get; init; }

    /// <summary>Replaces <c>vm.plugins_dir</c>.</summary>
    public string? PluginsDir { get; init; }

    /// <summary>No overrides.</summary>
    public static ConfigOverrides None { get; } = new();
}
