using System.CommandLine;
using Microsoft.Extensions.Logging;
using PluginVmm.Core.Hosting;

namespace PluginVmm.Cli;

/// <summary>
/// The <c>vmm</c> command tree. Parse errors are user-input errors: they are printed as <c>error: ...</c> lines and
/// end with exit code 2 (System.CommandLine's own default would be 1, which means a VMM failure here).
/// </summary>
internal sealed class VmmCommandLine
{
    private readonly CliEnvironment _env;
    private readonly RootCommand _root;

    public VmmCommandLine(CliEnvironment env)
    {
        _env = env;
        var logLevel = new Option<LogLevel>("--log-level")
        {
            Description = "Minimum level of log lines on stderr (Trace, Debug, Information, Warning, Error, None)",
            DefaultValueFactory = _ => LogLevel.Information,
            HelpName = "level",
            Recursive = true,
        };
        _root = new RootCommand("vmm - a KVM virtual machine monitor with device plugins")
        {
            new RunCommand(env, logLevel).Command,
            new PluginsCommand(env, logLevel).Command,
            new PublishCommand(env).Command,
            new DoctorCommand(env).Command,
            Nested.AgentCommand.Create(),
            Nested.ExecCommand.Create(env),
        };
        _root.Options.Add(logLevel);
    }

    public Task<int> InvokeAsync(IReadOnlyList<string> args, CancellationToken cancellationToken = default)
    {
        var result = _root.Parse(args);
        if (result.Errors.Count > 0)
        {
            foreach (var error in result.Errors) CliOutput.Error(_env.Error, error.Message);
            _env.Error.WriteLine("Run 'vmm --help' for usage.");
            return Task.FromResult(ExitCodes.ConfigError);
        }
        return result.InvokeAsync(new InvocationConfiguration
        {
            Output = _env.Out,
            Error = _env.Error,
            // SIGINT/SIGTERM cancel the run; a nested VM stops through its helper, under TCG, which takes longer
            // than System.CommandLine's 2 s default, and each runner bounds its own stop (null would leave the
            // signals to the runtime, which ends the process at once).
            ProcessTerminationTimeout = TimeSpan.FromSeconds(90),
        }, cancellationToken);
    }
}
