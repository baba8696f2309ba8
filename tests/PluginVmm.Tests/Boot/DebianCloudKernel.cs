using System.Diagnostics;
using Xunit;

namespace PluginVmm.Tests.Boot;

/// <summary>
/// Debian's real cloud kernel for loader tests. Resolves linux-image-cloud-amd64 to its versioned image package,
/// `apt-get download`s it and `dpkg-deb -x`es it into ~/.cache/pluginvmm-tests/kernel/&lt;version&gt;/ (or
/// $PLUGINVMM_TEST_CACHE/kernel/...), reusing what is there. Runs `apt-get update` at most once, only when apt
/// cannot find the package. A kernel the sandbox already fetched (~/.cache/pluginvmm-sandbox) is reused too.
/// When apt is unreachable and nothing is cached, <see cref="SkipReason"/> says why and the tests skip.
/// </summary>
internal static class DebianCloudKernel
{
    private const string MetaPackage = "linux-image-cloud-amd64";
    private static readonly Lazy<(string? Path, string? Reason)> Fetched = new(FetchOrFail, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Why the kernel tests skip (apt unreachable), or null.</summary>
    public static string? SkipReason => Fetched.Value.Path is null && !Fetched.Value.Reason!.StartsWith(FailPrefix, StringComparison.Ordinal)
        ? Fetched.Value.Reason : null;

    private const string FailPrefix = "FAIL: ";

    /// <summary>Path of the vmlinuz; a fetch that broke for another reason than apt being unreachable fails the test.</summary>
    public static string VmlinuzPath => Fetched.Value.Path
        ?? throw new InvalidOperationException($"fetching the Debian cloud kernel failed: {Fetched.Value.Reason}");

    private static (string?, string?) FetchOrFail()
    {
        try { return Fetch(); }
        catch (Exception e) { return (null, FailPrefix + e.Message); }
    }

    private static string CacheRoot
    {
        get
        {
            var root = Environment.GetEnvironmentVariable("PLUGINVMM_TEST_CACHE");
            if (string.IsNullOrEmpty(root))
                root = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "pluginvmm-tests");
            return Path.Combine(root, "kernel");
        }
    }

    private static (string?, string?) Fetch()
    {
        try
        {
            var updated = false;
            var package = ResolveImagePackage();
            if (package is null)
            {
                // Fresh container without apt lists: use any cached kernel before going to the network.
                var cached = AnyCachedKernel();
                if (cached is not null) return (cached, null);
                if (!AptUpdate(out var why)) return (null, $"apt-get update failed, apt unreachable: {why}");
                updated = true;
                package = ResolveImagePackage();
                if (package is null) return (null, $"apt cannot resolve {MetaPackage} to a versioned image package");
            }

            var version = package["linux-image-".Length..];
            var dir = Path.Combine(CacheRoot, version);
            var vmlinuz = Path.Combine(dir, "boot", $"vmlinuz-{version}");
            if (File.Exists(vmlinuz)) return (vmlinuz, null);

            var sandbox = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile),
                ".cache", "pluginvmm-sandbox", version, "kernel", "boot", $"vmlinuz-{version}");
            if (File.Exists(sandbox)) return (sandbox, null);

            Directory.CreateDirectory(CacheRoot);
            var work = Path.Combine(CacheRoot, $".download-{Environment.ProcessId}");
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
            Directory.CreateDirectory(work);
            try
            {
                if (!Run("apt-get", ["download", "-q", "-o", "APT::Sandbox::User=root", package], work, out var err))
                {
                    if (updated || !AptUpdate(out err) ||
                        !Run("apt-get", ["download", "-q", "-o", "APT::Sandbox::User=root", package], work, out err))
                        return (null, $"apt-get download {package} failed, apt unreachable: {err}");
                }
                var deb = Directory.GetFiles(work, "*.deb").SingleOrDefault();
                if (deb is null) return (null, $"apt-get download {package} left no .deb");
                var extracted = Path.Combine(work, "root");
                if (!Run("dpkg-deb", ["-x", deb, extracted], work, out err))
                    throw new InvalidOperationException($"dpkg-deb -x {deb} failed: {err}");
                // Keep only boot/ (vmlinuz, config, System.map); the modules are not needed here.
                var staged = Path.Combine(work, version);
                Directory.CreateDirectory(staged);
                Directory.Move(Path.Combine(extracted, "boot"), Path.Combine(staged, "boot"));
                try { Directory.Move(staged, dir); }
                catch (IOException) when (File.Exists(vmlinuz)) { /* another test run got there first */ }
            }
            finally
            {
                Directory.Delete(work, recursive: true);
            }
            return File.Exists(vmlinuz) ? (vmlinuz, null) : throw new InvalidOperationException($"{package} holds no {vmlinuz}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (null, $"apt tools not available: {e.Message}");
        }
    }

    private static string? AnyCachedKernel()
    {
        if (!Directory.Exists(CacheRoot)) return null;
        return Directory.GetDirectories(CacheRoot)
            .Where(d => !Path.GetFileName(d).StartsWith('.'))
            .Select(d => Path.Combine(d, "boot", $"vmlinuz-{Path.GetFileName(d)}"))
            .Where(File.Exists)
            .OrderDescending(StringComparer.Ordinal)
            .FirstOrDefault();
    }

    private static string? ResolveImagePackage()
    {
        if (!Run("apt-cache", ["depends", MetaPackage], null, out var output, captureStdout: true)) return null;
        foreach (var line in output.Split('\n'))
        {
            var parts = line.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && parts[0] == "Depends:" && parts[1].StartsWith("linux-image-", StringComparison.Ordinal)
                && parts[1].Length > "linux-image-".Length && char.IsAsciiDigit(parts[1]["linux-image-".Length]))
                return parts[1];
        }
        return null;
    }

    private static bool AptUpdate(out string error) => Run("apt-get", ["update", "-q"], null, out error);

    private static bool Run(string file, string[] args, string? cwd, out string output, bool captureStdout = false)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = cwd ?? Environment.CurrentDirectory,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DEBIAN_FRONTEND"] = "noninteractive";
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        // A hung network fetch must not hang the test run forever.
        if (!p.WaitForExit(TimeSpan.FromMinutes(10)))
        {
            p.Kill(entireProcessTree: true);
            output = $"{file} did not finish within 10 minutes";
            return false;
        }
        output = captureStdout ? stdout.Result : (stderr.Result.Trim() is { Length: > 0 } e ? e : stdout.Result.Trim());
        return p.ExitCode == 0;
    }
}

/// <summary>A fact that needs Debian's cloud kernel; skips, printing why, when it cannot be fetched.</summary>
internal sealed class DebianKernelFactAttribute : FactAttribute
{
    public DebianKernelFactAttribute()
    {
        if (DebianCloudKernel.SkipReason is { } reason) Skip = $"Debian cloud kernel unavailable: {reason}";
    }
}
