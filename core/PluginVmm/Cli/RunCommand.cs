using System.CommandLine;
using Microsoft.Extensions.Logging;
using PluginVmm.Core.Config;
using PluginVmm.Core.Hosting;
using PluginVmm.Core.Plugins;
using PluginVmm.Nested;

namespace PluginVmm.Cli;

/// <summary>
/// <c>vmm run FILE.toml</c> / <c>vmm run --config FILE</c>: reads and checks the config, loads the plugins, binds the
/// devices, and only when all of that is clean hands over to the <see cref="IVmRunner"/>. Any user-input problem
/// is printed (all of them) and ends with exit code 2 before a VM exists.
/// </summary>
internal sealed class RunCommand
{
    private readonly CliEnvironment _env;
    private readonly Option<LogLevel> _logLevel;
    private readonly Argument<string?> _file = new("file") { Description = "The VM config (vmm.toml)", Arity = ArgumentArity.ZeroOrOne };
    private readonly Option<string?> _config = new("--config", "-c") { Description = "The VM config (same as the argument)", HelpName = "file" };
    private readonly Option<string?> _kernel = new(ConfigOverrides.KernelOption) { Description = "Kernel to boot instead of vm.kernel", HelpName = "file" };
    private readonly Option<string?> _cmdline = new(ConfigOverrides.CmdlineOption) { Description = "Kernel command line instead of vm.cmdline", HelpName = "text" };
    private readonly Option<long?> _memory = CliOptions.Integer(ConfigOverrides.MemoryOption, "Guest RAM in MiB instead of vm.memory_mib", "mib");
    private readonly Option<long?> _vcpus = CliOptions.Integer(ConfigOverrides.VcpusOption, "vCPU count instead of vm.vcpus", "n");
    private readonly Option<string?> _pluginsDir = new(ConfigOverrides.PluginsDirOption) { Description = "Plugins folder instead of vm.plugins_dir", HelpName = "dir" };
    private readonly Option<string?> _backend = new(Backend.Option)
    {
        Description = $"Where the VM runs: auto (the host's KVM when it can run Linux, else the nested helper), kvm or nested; default ${Backend.EnvironmentVariable} or auto",
        HelpName = "auto|kvm|nested",
    };

    public RunCommand(CliEnvironment env, Option<LogLevel> logLevel)
    {
        _env = env;
        _logLevel = logLevel;
        Command = new Command("run", "Boot a VM described by a TOML file")
        {
            _file, _config, _kernel, _cmdline, _memory, _vcpus, _pluginsDir, _backend,
        };
        // On a thread of its own: System.CommandLine waits (ProcessTerminationTimeout) for a started action after
        // SIGINT/SIGTERM, but an action still running inside SetAction's delegate counts as not started and the
        // process would exit at once with 130/143, the VM never stopped.
        Command.SetAction((result, cancellationToken) => Task.Run(() => Run(result, cancellationToken), CancellationToken.None));
    }

    public Command Command { get; }

    /// <summary>The <c>vmm run</c> options the helper's VMM gets again, with the paths made absolute and the host's KVM chosen.</summary>
    internal IEnumerable<(string Option, string? Value)> Overrides(ParseResult result)
    {
        yield return (_kernel.Name, result.GetValue(_kernel));
        yield return (_cmdline.Name, result.GetValue(_cmdline));
        yield return (_memory.Name, result.GetValue(_memory)?.ToString(System.Globalization.CultureInfo.InvariantCulture));
        yield return (_vcpus.Name, result.GetValue(_vcpus)?.ToString(System.Globalization.CultureInfo.InvariantCulture));
        yield return (_pluginsDir.Name, result.GetValue(_pluginsDir));
        yield return (_logLevel.Name, result.GetValue(_logLevel).ToString());
    }

    internal string ConfigPath(ParseResult result) => Path.GetFullPath(result.GetValue(_file) ?? result.GetValue(_config)!);

    /// <summary>--backend, else $PLUGINVMM_BACKEND, else auto; null after printing why the value is bad.</summary>
    private BackendKind? RequestedBackend(ParseResult result)
    {
        var (text, source) = result.GetValue(_backend) is { } given
            ? (given, Backend.Option)
            : (Environment.GetEnvironmentVariable(Backend.EnvironmentVariable), Backend.EnvironmentVariable);
        if (string.IsNullOrEmpty(text)) return BackendKind.Auto;
        var kind = Backend.Parse(text, source, out var error);
        if (error is not null) CliOutput.Error(_env.Error, error);
        return kind;
    }

    private int Run(ParseResult result, CancellationToken cancellationToken)
    {
        StartupTrace.Mark("command line parsed");
        var argument = result.GetValue(_file);
        var option = result.GetValue(_config);
        if (argument is not null && option is not null && argument != option)
        {
            CliOutput.Error(_env.Error, $"run: two config files given ('{argument}' and --config '{option}')");
            return ExitCodes.ConfigError;
        }
        var path = argument ?? option;
        if (path is null)
        {
            CliOutput.Error(_env.Error, "run: no config file; use `vmm run FILE.toml` or `vmm run --config FILE.toml`");
            return ExitCodes.ConfigError;
        }

        if (RequestedBackend(result) is not { } requested) return ExitCodes.ConfigError;

        using var loggerFactory = _env.CreateLoggerFactory(result.GetValue(_logLevel));
        var logger = loggerFactory.CreateLogger("vmm");
        StartupTrace.Mark("logging ready");
        var document = ConfigLoader.Read(path, new ConfigOverrides
        {
            Kernel = result.GetValue(_kernel),
            Cmdline = result.GetValue(_cmdline),
            MemoryMib = result.GetValue(_memory),
            Vcpus = result.GetValue(_vcpus),
            PluginsDir = result.GetValue(_pluginsDir),
        });
        StartupTrace.Mark("config read");
        if (document.IsUnreadable)
        {
            CliOutput.Diagnostics(_env.Error, document.Diagnostics);
            return ExitCodes.ConfigError;
        }

        using var catalog = document.PluginsDirInvalid
            ? PluginCatalog.FromInstances([], document.PluginsDir)
            : PluginCatalog.Load(document.PluginsDir, loggerFactory, document.DeviceKinds);
        StartupTrace.Mark("plugins loaded");
        CliLog.PluginsLoaded(logger, catalog.Plugins.Count, catalog.Directory);
        CliOutput.Problems(_env.Error, catalog.Problems);
        var loaded = ConfigLoader.Load(document, catalog.Kinds);
        StartupTrace.Mark("devices bound");
        CliOutput.Diagnostics(_env.Error, loaded.Diagnostics);
        if (catalog.HasErrors)
        {
            CliOutput.Error(_env.Error, $"not starting a VM while plugins in {catalog.Directory} are refused or conflict (see above)");
        }
        if (loaded.Config is not { } config || catalog.HasErrors) return ExitCodes.ConfigError;

        var (backend, notice) = Backend.Resolve(requested, _env.ProbeKvm);
        if (backend == BackendKind.Nested)
        {
            var refused = NestedPreflight.Check(config, HelperVm.MemoryMib);
            CliOutput.Diagnostics(_env.Error, refused);
            if (refused.Count > 0) return ExitCodes.ConfigError;
            if (notice is not null) _env.Error.WriteLine(notice);
            CliLog.StartingNestedVm(logger, config.ConfigPath);
            try
            {
                return _env.RunNested(NestedPreflight.ForwardedArguments(result, this), cancellationToken);
            }
            catch (Exception e)
            {
                // As for a direct run: a failure of the backend is exit code 1 with a message, never an exception dump.
                CliLog.VmmFailed(logger, e);
                CliOutput.Error(_env.Error, $"nested backend failed: {e.Message} (--log-level debug shows where)");
                return ExitCodes.VmmError;
            }
        }

        CliLog.StartingVm(logger, config.ConfigPath, config.MemoryMib, config.Vcpus, config.KernelPath, config.Devices.Count);
        try
        {
            var exitCode = _env.Runner.Run(config, catalog, loggerFactory, cancellationToken);
            CliLog.VmEnded(logger, exitCode);
            return exitCode;
        }
        catch (Exception e)
        {
            // Last line of defence: a VMM failure is exit code 1 with a message, never an unhandled-exception dump.
            CliLog.VmmFailed(logger, e);
            CliOutput.Error(_env.Error, $"vmm failed: {e.Message} (--log-level debug shows where)");
            return ExitCodes.VmmError;
        }
    }
}
