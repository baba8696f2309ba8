using System.ComponentModel.DataAnnotations;

namespace PluginVmm.Core.Config;

/// <summary>
/// The <c>[vm]</c> table, bound like a device's options (snake_case keys, attributes checked). <c>kernel</c> is
/// required but checked by the loader, because <c>--kernel</c> may supply it instead.
/// </summary>
internal sealed class VmSection
{
    public const int DefaultMemoryMib = 256, DefaultVcpus = 1;

    public const string DefaultCmdline = "console=ttyS0";

    [Range(16, 65536)]
    public int MemoryMib { get; set; } = DefaultMemoryMib;

    [Range(1, 64)]
    public int Vcpus { get; set; } = DefaultVcpus;

    public string? Kernel { get; set; }

    public string? Initramfs { get; set; }

    public string? Cmdline { get; set; }

    public string? PluginsDir { get; set; }
}
