using System.CommandLine;
using Microsoft.Extensions.Logging;
using PluginVmm.Core.Config;
using PluginVmm.Core.Hosting;
using PluginVmm.Core.Plugins;

namespace PluginVmm.Cli;

/// <summary><c>vmm plugins [--plugins-dir DIR]</c>: the loadable device kinds as a table on stdout; problems on stderr.</summary>
internal sealed class PluginsCommand
{
    private readonly CliEnvironment _env;
    private readonly Option<LogLevel> _logLevel;
    private readonly Option<string?> _pluginsDir = new(ConfigOverrides.PluginsDirOption)
    {
        Description = "Plugins folder (default: the plugins folder beside the host)",
        HelpName = "dir",
    };

    public PluginsCommand(CliEnvironment env, Option<LogLevel> logLevel)
    {
        _env = env;
        _logLevel = logLevel;
        Command = new Command("plugins", "List the device plugins the host can load") { _pluginsDir };
        Command.SetAction(Run);
    }

    public Command Command { get; }

    private int Run(ParseResult result)
    {
        var given = result.GetValue(_pluginsDir);
        var directory = given is null ? ConfigLoader.DefaultPluginsDir : Path.GetFullPath(given);
        if (given is not null && !Directory.Exists(directory))
        {
            CliOutput.Error(_env.Error, $"{ConfigOverrides.PluginsDirOption}: directory not found: '{given}'");
            return ExitCodes.ConfigError;
        }

        using var loggerFactory = _env.CreateLoggerFactory(result.GetValue(_logLevel));
        using var catalog = PluginCatalog.Load(directory, loggerFactory);
        PluginTable.Write(_env.Out, catalog.Plugins);
        CliOutput.Problems(_env.Error, catalog.Problems);
        return catalog.HasErrors ? ExitCodes.ConfigError : 0;
    }
}
