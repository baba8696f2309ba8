using Tomlyn.Syntax;

namespace PluginVmm.Core.Config;

/// <summary>
/// Binds <c>[vm]</c>, applies command-line overrides and checks the result: ranges, the required kernel, and that
/// every named file and folder exists. File values resolve against the config folder, option values against the
/// current directory; errors point at the file value or name the option.
/// </summary>
internal static class VmSectionChecker
{
    public static void Apply(ConfigDocument document, TomlSection? table, ConfigOverrides overrides)
    {
        var diagnostics = document.DiagnosticList;
        var vm = new VmSection();
        if (table is not null) OptionsBinder.Bind(table, vm, [], "in [vm]", diagnostics, document.Directory);

        document.MemoryMib = Override(vm.MemoryMib, "memory_mib", overrides.MemoryMib, ConfigOverrides.MemoryOption, diagnostics);
        document.Vcpus = Override(vm.Vcpus, "vcpus", overrides.Vcpus, ConfigOverrides.VcpusOption, diagnostics);
        document.Cmdline = overrides.Cmdline ?? vm.Cmdline ?? VmSection.DefaultCmdline;

        document.KernelPath = CheckPath(document, table, "kernel", vm.Kernel, overrides.Kernel, ConfigOverrides.KernelOption, ConfigPaths.FileProblem);
        if (document.KernelPath is null && overrides.Kernel is null && table?.Find("kernel") is null)
        {
            const string message = "missing required key 'kernel' in [vm]";
            if (table?.Header is { } header) diagnostics.Add(header, message);
            else diagnostics.AddAtFileStart($"{message} (there is no [vm] table)");
        }
        document.InitramfsPath = CheckPath(document, table, "initramfs", vm.Initramfs, null, null, ConfigPaths.FileProblem);

        var pluginsDir = CheckPath(document, table, "plugins_dir", vm.PluginsDir, overrides.PluginsDir, ConfigOverrides.PluginsDirOption, ConfigPaths.DirectoryProblem);
        var given = overrides.PluginsDir ?? vm.PluginsDir;
        document.PluginsDirInvalid = given is not null && pluginsDir is null;
        document.PluginsDir = pluginsDir ?? (given is null ? ConfigLoader.DefaultPluginsDir : "");
    }

    /// <summary>An integer from the command line replaces the file's, checked by the same [Range].</summary>
    private static int Override(int fileValue, string key, long? optionValue, string option, DiagnosticList diagnostics)
    {
        if (optionValue is not { } value) return fileValue;
        var property = OptionsSchema.For(typeof(VmSection)).Find(key)!;
        if (!OptionsBinder.Check(property, value, option, at: null, diagnostics)) return fileValue;
        if (value is < int.MinValue or > int.MaxValue)
        {
            diagnostics.AddWithoutLocation($"{option}: {value} is out of range");
            return fileValue;
        }
        return (int)value;
    }

    /// <summary>
    /// Resolves and checks a path from the option (if given) or the file; returns the absolute path, or null when
    /// absent or wrong (wrong ones are reported).
    /// </summary>
    private static string? CheckPath(ConfigDocument document, TomlSection? table, string key, string? fileValue,
        string? optionValue, string? option, Func<string, string, string?> problem)
    {
        var diagnostics = document.DiagnosticList;
        if (optionValue is not null)
        {
            return Check(optionValue, Directory.GetCurrentDirectory(), $"{option}", null);
        }
        if (fileValue is null) return null;
        return Check(fileValue, document.Directory, key, table?.Find(key)?.Value);

        string? Check(string given, string baseDirectory, string label, SyntaxNodeBase? at)
        {
            string? message;
            string? resolved = null;
            if (string.IsNullOrWhiteSpace(given))
            {
                message = $"{label}: must not be empty";
            }
            else if (ConfigPaths.SyntaxProblem(given) is { } bad)
            {
                message = $"{label}: {bad}";
            }
            else
            {
                resolved = ConfigPaths.Resolve(baseDirectory, given);
                message = problem(given, resolved) is { } why ? $"{label}: {why}" : null;
            }
            if (message is null) return resolved;
            if (at is null) diagnostics.AddWithoutLocation(message);
            else diagnostics.Add(at, message);
            return null;
        }
    }
}
