using Microsoft.Extensions.Logging;

namespace PluginVmm.Cli;

/// <summary>
/// Single-line logs on stderr (stdout carries the guest console and the tables):
/// <c>HH:mm:ss.fff level: category[event] message</c>, then the exception if there is one.
/// A small provider of our own instead of Microsoft.Extensions.Logging.Console: that one builds a DI container,
/// the options and configuration stack and a background queue thread before the first line, which was a large
/// part of the VMM's start-up (see BENCHMARKS.md). The factory is still Microsoft.Extensions.Logging's, so
/// plugins log through the shared abstractions as before.
/// </summary>
internal static class StderrLogging
{
    public static ILoggerFactory Create(LogLevel minimum) =>
        new LoggerFactory([new StderrLoggerProvider(Console.Error)], new LoggerFilterOptions { MinLevel = minimum });
}

/// <summary>Creates <see cref="StderrLogger"/>s writing to one (synchronized) writer.</summary>
internal sealed class StderrLoggerProvider(TextWriter writer) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new StderrLogger(categoryName, writer);

    public void Dispose()
    {
    }
}

/// <summary>One category's logger; each entry is formatted into one string and written with one call.</summary>
internal sealed class StderrLogger(string category, TextWriter writer) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel)) return;
        var message = formatter(state, exception);
        var line = $"{DateTime.Now:HH:mm:ss.fff} {Label(logLevel)}: {category}[{eventId.Id}] {message}";
        if (exception is not null) line += Environment.NewLine + exception;
        writer.WriteLine(line);
    }

    private static string Label(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        LogLevel.Critical => "crit",
        _ => "none",
    };
}
