using Microsoft.Extensions.Logging;

namespace PluginVmm.Core.Plugins;

/// <summary>Log messages of plugin loading (source-generated; event ids are stable).</summary>
internal static partial class PluginCatalogLog
{
    [LoggerMessage(100, LogLevel.Debug, "Loading device plugins from {Directory}")]
    public static partial void Scanning(ILogger logger, string directory);

    [LoggerMessage(101, LogLevel.Debug, "Loaded device kind {Kind} from {Assembly} {Version} ({Path})")]
    public static partial void Loaded(ILogger logger, string kind, string assembly, string version, string path);

    [LoggerMessage(103, LogLevel.Debug, "Not loading plugin {Name}: its kind(s) {Kinds} are not used ({Path})")]
    public static partial void NotNeeded(ILogger logger, string name, string kinds, string path);

    [LoggerMessage(102, LogLevel.Debug, "Plugin problem: {Problem}")]
    public static partial void Problem(ILogger logger, PluginProblem problem);
}
