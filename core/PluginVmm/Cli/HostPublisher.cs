namespace PluginVmm.Cli;

/// <summary>
/// Copies an installed host (vmm.dll, its dependencies and plugins/) to another folder and writes a <c>vmm</c> sh
/// launcher there, so that <c>DIR/vmm run X.toml</c> needs only the .NET runtime. The copy is framework-dependent
/// and the launcher runs <c>dotnet vmm.dll</c> rather than an apphost, which would need DOTNET_ROOT set or a
/// runtime in a default location.
/// </summary>
internal static class HostPublisher
{
    public const string LauncherName = "vmm";
    private const string HostAssembly = "vmm.dll";
    private const string PluginsFolder = "plugins";

    public const string Launcher = """
        #!/bin/sh
        # PluginVmm launcher written by `vmm publish`: runs the framework-dependent host with the .NET runtime
        # from $DOTNET_ROOT, else the `dotnet` on PATH.
        here=$(dirname "$(readlink -f "$0")")
        if [ -n "${DOTNET_ROOT:-}" ] && [ -x "$DOTNET_ROOT/dotnet" ]; then dotnet="$DOTNET_ROOT/dotnet"; else dotnet=dotnet; fi
        exec "$dotnet" "$here/vmm.dll" "$@"

        """;

    /// <summary>Publishes <paramref name="source"/> into <paramref name="destination"/>; returns an error message or null.</summary>
    public static string? Publish(string source, string destination)
    {
        source = Path.TrimEndingDirectorySeparator(Path.GetFullPath(source));
        destination = Path.TrimEndingDirectorySeparator(Path.GetFullPath(destination));
        if (!File.Exists(Path.Combine(source, HostAssembly))) return $"no {HostAssembly} in {source}: this host is not installed as a folder";
        if (IsSameOrInside(destination, source) || IsSameOrInside(source, destination))
        {
            return $"'{destination}' overlaps the running host's folder {source}";
        }
        if (Directory.Exists(destination) && Directory.EnumerateFileSystemEntries(destination).Any()
            && !File.Exists(Path.Combine(destination, HostAssembly)))
        {
            return $"'{destination}' is not empty and holds no earlier vmm install; choose a new or empty folder";
        }

        try
        {
            Directory.CreateDirectory(destination);
            // Replace plugins wholesale: a plugin left over from an earlier publish would still be loaded.
            var plugins = Path.Combine(destination, PluginsFolder);
            if (Directory.Exists(plugins)) Directory.Delete(plugins, recursive: true);
            CopyTree(source, destination, isRoot: true);
            var launcher = Path.Combine(destination, LauncherName);
            File.WriteAllText(launcher, Launcher.ReplaceLineEndings("\n"));
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(launcher, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                    | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            }
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"cannot publish to '{destination}': {e.Message}";
        }
    }

    private static void CopyTree(string from, string to, bool isRoot)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.EnumerateFiles(from))
        {
            var name = Path.GetFileName(file);
            // The apphost (if the host was built with one) is replaced by the sh launcher.
            if (isRoot && name == LauncherName) continue;
            File.Copy(file, Path.Combine(to, name), overwrite: true);
        }
        foreach (var directory in Directory.EnumerateDirectories(from))
        {
            CopyTree(directory, Path.Combine(to, Path.GetFileName(directory)), isRoot: false);
        }
    }

    private static bool IsSameOrInside(string path, string folder) =>
        path == folder || path.StartsWith(folder + Path.DirectorySeparatorChar, StringComparison.Ordinal);
}
