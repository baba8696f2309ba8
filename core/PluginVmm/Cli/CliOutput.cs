using PluginVmm.Core.Config;
using PluginVmm.Core.Plugins;

namespace PluginVmm.Cli;

/// <summary>Plain diagnostic lines on stderr, in the exact forms the documentation promises.</summary>
internal static class CliOutput
{
    public static void Diagnostics(TextWriter error, IEnumerable<ConfigDiagnostic> diagnostics)
    {
        foreach (var diagnostic in diagnostics) error.WriteLine(diagnostic.ToString());
    }

    public static void Problems(TextWriter error, IEnumerable<PluginProblem> problems)
    {
        foreach (var problem in problems) error.WriteLine(problem.ToString());
    }

    public static void Error(TextWriter error, string message) => error.WriteLine($"error: {message}");
}
