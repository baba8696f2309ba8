using System.CommandLine;
using PluginVmm.Cli;
using PluginVmm.Core.Config;

namespace PluginVmm.Nested;

/// <summary>What the nested backend refuses before anything starts, and the command line it hands the helper.</summary>
internal static class NestedPreflight
{
    /// <summary>Room the helper keeps for its own kernel, the .NET runtime and the VMM beside a guest.</summary>
    public const int HelperOverheadMib = 1024;

    public static List<ConfigDiagnostic> Check(VmConfig config, int helperMemoryMib)
    {
        var problems = new List<ConfigDiagnostic>();
        foreach (var device in config.Devices.Where(d => d.Kind == "vfio"))
        {
            problems.Add(device.Location.Error(
                "device kind 'vfio': a host PCI function cannot be passed through the nested helper (two levels of " +
                "virtualization); run on a host whose /dev/kvm can run Linux, or remove this device"));
        }
        if (config.MemoryMib > helperMemoryMib - HelperOverheadMib)
        {
            problems.Add(ConfigDiagnostic.WithoutLocation(
                $"memory_mib: {config.MemoryMib} MiB does not fit the nested helper's {helperMemoryMib} MiB " +
                $"(it keeps {HelperOverheadMib} MiB for itself); set PLUGINVMM_NESTED_MEMORY_MIB to at least {config.MemoryMib + HelperOverheadMib}"));
        }
        return problems;
    }

    /// <summary><c>run CONFIG --backend kvm</c> and every override the user gave, paths absolute (same cwd in the helper).</summary>
    public static string[] ForwardedArguments(ParseResult result, RunCommand command)
    {
        var args = new List<string> { "run", command.ConfigPath(result), Backend.Option, "kvm" };
        foreach (var (option, value) in command.Overrides(result))
        {
            if (value is null) continue;
            args.Add(option);
            args.Add(value);
        }
        return [.. args];
    }
}
