namespace PluginVmm.Sdk.Plugins;

/// <summary>Lets a plugin check its options before any VM exists; errors are reported with file, line and key.</summary>
public interface IOptionsValidationContext
{
    /// <summary>Resolves a path from the config file against the config file's folder.</summary>
    string ResolvePath(string path);

    /// <summary>Reports a problem with <paramref name="key"/> (snake_case, as in the file).</summary>
    void Error(string key, string message);
}
