using Microsoft.Extensions.Logging;

namespace PluginVmm.Cli;

/// <summary>Log messages of the command line (source-generated; event ids are stable).</summary>
internal static partial class CliLog
{
    [LoggerMessage(1, LogLevel.Information, "Starting VM from {Config}: {MemoryMib} MiB, {Vcpus} vCPU(s), kernel {Kernel}, {DeviceCount} device(s)")]
    public static partial void StartingVm(ILogger logger, string config, int memoryMib, int vcpus, string kernel, int deviceCount);

    [LoggerMessage(2, LogLevel.Information, "VM ended with exit code {ExitCode}")]
    public static partial void VmEnded(ILogger logger, int exitCode);

    [LoggerMessage(3, LogLevel.Debug, "Using {Count} device plugin(s) from {Directory}")]
    public static partial void PluginsLoaded(ILogger logger, int count, string directory);

    [LoggerMessage(5, LogLevel.Debug, "Handing {Config} to the nested helper")]
    public static partial void StartingNestedVm(ILogger logger, string config);

    [LoggerMessage(4, LogLevel.Debug, "VMM failure")]
    public static partial void VmmFailed(ILogger logger, Exception exception);
}
