namespace PluginVmm.Core.Config;

/// <summary>Path rules for config values: relative paths resolve against the folder of the file that holds them.</summary>
internal static class ConfigPaths
{
    public static string Resolve(string baseDirectory, string path) =>
        Path.GetFullPath(Path.IsPathRooted(path) ? path : Path.Combine(baseDirectory, path));

    /// <summary>Null when <paramref name="resolved"/> is an existing file, else why not.</summary>
    public static string? FileProblem(string given, string resolved) =>
        File.Exists(resolved) ? null
        : Directory.Exists(resolved) ? $"'{given}' is a directory, not a file"
        : $"file not found: '{given}'" + (given == resolved ? "" : $" (resolved to {resolved})");

    /// <summary>Null when <paramref name="resolved"/> is an existing directory, else why not.</summary>
    public static string? DirectoryProblem(string given, string resolved) =>
        Directory.Exists(resolved) ? null
        : File.Exists(resolved) ? $"'{given}' is a file, not a directory"
        : $"directory not found: '{given}'" + (given == resolved ? "" : $" (resolved to {resolved})");
}
