using Microsoft.Extensions.Logging;
using PluginVmm.Core.Hosting;

namespace PluginVmm.Cli;

/// <summary>What the command line talks to; tests replace the writers, the runner and logging.</summary>
internal sealed record CliEnvironment
{
    /// <summary>Tables and results (stdout stays clean for scripts; the guest console also goes there).</summary>
    public required TextWriter Out { get; init; }

    /// <summary>Diagnostics.</summary>
    public required TextWriter Error { get; init; }

    /// <summary>Runs the VM once the configuration is valid.</summary>
    public required IVmRunner Runner { get; init; }

    /// <summary>Creates the logging for one invocation at the chosen minimum level.</summary>
    public required Func<LogLevel, ILoggerFactory> CreateLoggerFactory { get; init; }

    /// <summary>Folder of the installed host (vmm.dll and plugins/), the source of <c>vmm publish</c>.</summary>
    public required string HostDirectory { get; init; }

    /// <summary>What the host's /dev/kvm can do; decides the backend of <c>vmm run</c> in auto mode.</summary>
    public Func<KvmProbeResult> ProbeKvm { get; init; } = KvmProbe.Probe;

    /// <summary>Runs <c>vmm ARGS</c> in the nested helper and returns its exit code (arguments, cancellation).</summary>
    public Func<string[], CancellationToken, int> RunNested { get; init; } =
        (args, ct) => new Nested.NestedRunner(Nested.HelperPaths.ForUser(), Console.OpenStandardOutput(), Console.Error).Run(args, ct);

    /// <summary>The real process: console writers, console logging to stderr, the host's own folder.</summary>
    public static CliEnvironment ForProcess(IVmRunner runner) => new()
    {
        Out = Console.Out,
        Error = Console.Error,
        Runner = runner,
        CreateLoggerFactory = StderrLogging.Create,
        HostDirectory = AppContext.BaseDirectory,
    };
}
