using System.CommandLine;
using PluginVmm.Core.Hosting;

namespace PluginVmm.Cli;

/// <summary><c>vmm publish DIR</c>: copies this host and its plugins into DIR with a <c>vmm</c> launcher.</summary>
internal sealed class PublishCommand
{
    private readonly CliEnvironment _env;
    private readonly Argument<string> _destination = new("dir") { Description = "Folder to write the runnable host into" };

    public PublishCommand(CliEnvironment env)
    {
        _env = env;
        Command = new Command("publish", "Write a runnable copy of this host and its plugins into a folder") { _destination };
        Command.SetAction(Run);
    }

    public Command Command { get; }

    private int Run(ParseResult result)
    {
        var destination = result.GetValue(_destination)!;
        if (HostPublisher.Publish(_env.HostDirectory, destination) is { } error)
        {
            CliOutput.Error(_env.Error, $"publish: {error}");
            return ExitCodes.ConfigError;
        }
        _env.Out.WriteLine($"published to {Path.GetFullPath(destination)}; run it as {Path.Combine(destination, HostPublisher.LauncherName)} run FILE.toml");
        return 0;
    }
}
