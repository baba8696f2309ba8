using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace PluginVmm.Cli;

/// <summary>Single-line console logs, all on stderr: stdout carries the guest console and the tables.</summary>
internal static class ConsoleLogging
{
    public static ILoggerFactory Create(LogLevel minimum) => LoggerFactory.Create(builder => builder
        .SetMinimumLevel(minimum)
        .AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        })
        .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace));
}
