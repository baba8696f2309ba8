using System.Diagnostics;
using System.Reflection;
using System.Runtime.Loader;

namespace PluginVmm.Core.Hosting;

/// <summary>
/// The last word when an exception escapes a thread nobody guards — in practice a thread a plugin started itself
/// instead of through <c>IDeviceContext.StartWorker</c>. .NET ends the process after such an exception and nothing
/// can stop that; what we control is how: one line naming the plugin whose code threw and the thread, and exit code
/// 1 (<see cref="ExitCodes.VmmError"/>) instead of a runtime dump and SIGABRT.
/// </summary>
public static class UnhandledExceptionReport
{
    /// <summary>Installs the handler for this process (the `vmm` executable).</summary>
    public static void Install(TextWriter error)
    {
        AppDomain.CurrentDomain.UnhandledException += (_, e) =>
        {
            try
            {
                error.WriteLine(Describe(e.ExceptionObject as Exception, Thread.CurrentThread.Name));
                error.Flush();
            }
            finally
            {
                Environment.Exit(ExitCodes.VmmError);
            }
        };
    }

    /// <summary>The message for <paramref name="exception"/> escaping the thread <paramref name="threadName"/>.</summary>
    public static string Describe(Exception? exception, string? threadName)
    {
        string what = exception is null ? "a non-exception object" : $"{exception.GetType().Name}: {exception.Message}";
        string thread = string.IsNullOrEmpty(threadName) ? "an unnamed thread" : $"thread '{threadName}'";
        return PluginOf(exception) is { } plugin
            ? $"error: fatal: unhandled {what} on {thread}, thrown by plugin {plugin}. A plugin's own threads must catch " +
              "their exceptions or be started with IDeviceContext.StartWorker (a failing worker fences only its device); " +
              "the VMM cannot continue and stops (exit code 1)."
            : $"error: fatal: unhandled {what} on {thread}; the VMM stops (exit code 1).";
    }

    /// <summary>
    /// The simple name of the first assembly on the exception's stack (or an inner exception's) that was loaded by a
    /// plugin load context rather than the default one; null when none was.
    /// </summary>
    public static string? PluginOf(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            foreach (var frame in new StackTrace(e, fNeedFileInfo: false).GetFrames())
            {
                if (frame.GetMethod()?.DeclaringType?.Assembly is { IsDynamic: false } assembly && IsPlugin(assembly))
                    return assembly.GetName().Name;
            }
        }
        return null;
    }

    private static bool IsPlugin(Assembly assembly) =>
        AssemblyLoadContext.GetLoadContext(assembly) is { } context && context != AssemblyLoadContext.Default;
}
