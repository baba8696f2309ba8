namespace PluginVmm.Core.Config;

/// <summary>Path rules for config values: relative paths resolve against the folder of the file that holds them.</summary>
internal static class ConfigPaths
{
    public static string Resolve(string baseDirectory, string path)
    {
        string combined = Path.IsPathRooted(path) ? path : Path.Combine(baseDirectory, path);
        // GetFullPath throws on a NUL character (a TOML string may hold "\u0000"); such a path names no file, so it
        // is returned as is and the existence checks report it. Callers that read the file report NUL first.
        return combined.Contains('\0') ? combined : Path.GetFullPath(combined);
    }

    /// <summary>Why <paramref name="path"/> cannot be a path at all, or null (a NUL character ends a C string).</summary>
    public static string? SyntaxProblem(string path) => path.Contains('\0') ? "a path must not contain a NUL character" : null;

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
