using System.Security.Cryptography;

namespace PluginVmm.Nested;

/// <summary>
/// Where the nested backend keeps its things: <c>$PLUGINVMM_NESTED_CACHE</c>, else <c>$XDG_CACHE_HOME/pluginvmm</c>,
/// else <c>~/.cache/pluginvmm</c>. <c>images/KEY/</c> holds a finished boot image (KEY hashes the scripts that built
/// it), <c>debs/</c> the downloaded kernel package, <c>helper/</c> the running helper's state.
/// </summary>
internal sealed class HelperPaths
{
    public HelperPaths(string root) => Root = root;

    public static HelperPaths ForUser()
    {
        var env = Environment.GetEnvironmentVariable("PLUGINVMM_NESTED_CACHE");
        if (!string.IsNullOrEmpty(env)) return new HelperPaths(Path.GetFullPath(env));
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        // DoNotVerify: a HOME that does not exist yet is still where the cache belongs (the default gives "" then).
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile, Environment.SpecialFolderOption.DoNotVerify);
        if (string.IsNullOrEmpty(home)) home = Path.GetTempPath();
        return new HelperPaths(Path.GetFullPath(Path.Combine(string.IsNullOrEmpty(xdg) ? Path.Combine(home, ".cache") : xdg, "pluginvmm")));
    }

    public string Root { get; }

    public string Debs => Path.Combine(Root, "debs");

    public string Images => Path.Combine(Root, "images");

    /// <summary>The image built by the scripts embedded in this vmm.dll.</summary>
    public string Image => Path.Combine(Images, ImageKey);

    public string Helper => Path.Combine(Root, "helper");

    public string Lock => Path.Combine(Root, "helper.lock");

    public string Token => Path.Combine(Helper, "token");

    public string Port => Path.Combine(Helper, "port");

    public string QemuPid => Path.Combine(Helper, "qemu.pid");

    public string Console => Path.Combine(Helper, "console.log");

    public string VirtiofsLog => Path.Combine(Helper, "virtiofsd.log");

    public string VirtiofsSocket => Path.Combine(Helper, "virtiofs.sock");

    /// <summary>The agent's own copy of vmm.dll and what it needs, so it outlives the folder it came from.</summary>
    public string Agent => Path.Combine(Helper, "agent");

    public static string ImageKey { get; } = ComputeImageKey();

    public static string ReadScript(string name)
    {
        using var stream = typeof(HelperPaths).Assembly.GetManifestResourceStream($"PluginVmm.Nested.{name}")
            ?? throw new InvalidOperationException($"vmm.dll lacks its embedded {name}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static string ComputeImageKey()
    {
        var text = ReadScript("build-image.sh") + "\0" + ReadScript("helper-init.sh");
        return Convert.ToHexStringLower(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)))[..16];
    }
}
