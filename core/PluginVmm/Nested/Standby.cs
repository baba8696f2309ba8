using System.Text.Json;
using PluginVmm.Cli;
using PluginVmm.Core.Config;
using PluginVmm.Core.Hosting;
using PluginVmm.Core.Plugins;

namespace PluginVmm.Nested;

/// <summary>
/// A <c>vmm</c> process the helper's agent starts ahead of the next run (<c>PLUGINVMM_STANDBY=1</c>): under TCG
/// the .NET runtime's start and the JIT of the command line, config and plugin loading take seconds, so they
/// happen while nobody waits. The process then reads one <see cref="StandbyRequest"/> line from stdin and becomes
/// that run: its folder, environment and arguments.
/// </summary>
internal static class Standby
{
    public const string EnvironmentVariable = "PLUGINVMM_STANDBY";

    public static bool IsRequested => Environment.GetEnvironmentVariable(EnvironmentVariable) == "1";

    /// <summary>Warms up, waits for the run, applies it and returns its arguments (null: the agent went away).</summary>
    public static string[]? WaitForRun()
    {
        Environment.SetEnvironmentVariable(EnvironmentVariable, null);
        WarmUp();
        var line = Console.In.ReadLine();
        if (line is null) return null;
        var request = (StandbyRequest?)JsonSerializer.Deserialize(line, typeof(StandbyRequest), NestedJson.Default)
            ?? throw new InvalidDataException("empty standby request");
        Directory.SetCurrentDirectory(request.WorkingDirectory);
        foreach (var (name, value) in request.Environment) Environment.SetEnvironmentVariable(name, value);
        return request.Arguments;
    }

    private static void WarmUp()
    {
        var quiet = new CliEnvironment
        {
            Out = TextWriter.Null,
            Error = TextWriter.Null,
            Runner = new KvmVmRunner(),
            CreateLoggerFactory = StderrLogging.Create,
            HostDirectory = AppContext.BaseDirectory,
        };
        new VmmCommandLine(quiet).InvokeAsync(["run", "--help"]).GetAwaiter().GetResult();
        var toml = Path.GetTempFileName();
        try
        {
            File.WriteAllText(toml, "[vm]\nmemory_mib = 16\nkernel = \"missing\"\n[[device]]\nkind = \"pvpanic\"\n");
            var document = ConfigLoader.Read(toml, new ConfigOverrides());
            using var catalog = PluginCatalog.Load(ConfigLoader.DefaultPluginsDir, null, document.DeviceKinds);
            ConfigLoader.Load(document, catalog.Kinds);
        }
        finally
        {
            File.Delete(toml);
        }
    }
}

/// <summary>What turns a standby process into one run.</summary>
internal sealed record StandbyRequest(string WorkingDirectory, string[] Arguments, Dictionary<string, string> Environment);
