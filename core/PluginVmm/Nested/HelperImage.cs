using System.Diagnostics;
using System.Security.Cryptography;

namespace PluginVmm.Nested;

/// <summary>
/// The helper's boot files (kernel + initramfs), built once per image key by the embedded <c>build-image.sh</c>
/// from Debian packages. A finished image carries a manifest of checksums; one that does not match it (a truncated
/// copy, a disk error) is built again. Callers hold the helper lock, so two runs never build at once.
/// </summary>
internal static class HelperImage
{
    /// <summary>The image folder, ready to boot: checked against its manifest, built when missing or corrupt.</summary>
    /// <exception cref="NestedException">The build failed; the message says what to do.</exception>
    public static string Ensure(HelperPaths paths, TextWriter progress)
    {
        var dir = paths.Image;
        var problem = Verify(dir);
        if (problem is null) return dir;
        if (Directory.Exists(dir))
        {
            progress.WriteLine($"vmm: nested helper image {dir} is damaged ({problem}); building it again");
        }
        Build(paths, progress);
        return Verify(dir) is { } again ? throw new NestedException($"the helper image just built in {dir} does not verify: {again}") : dir;
    }

    /// <summary>Null when every file the manifest lists has its checksum, else what is wrong.</summary>
    public static string? Verify(string dir)
    {
        var manifest = Path.Combine(dir, "manifest.sha256");
        if (!File.Exists(manifest)) return "no manifest";
        foreach (var line in File.ReadAllLines(manifest))
        {
            var parts = line.Split("  ", 2);
            if (parts.Length != 2) return $"bad manifest line '{line}'";
            var file = Path.Combine(dir, parts[1]);
            if (!File.Exists(file)) return $"{parts[1]} is missing";
            using var stream = File.OpenRead(file);
            if (!string.Equals(Convert.ToHexStringLower(SHA256.HashData(stream)), parts[0], StringComparison.Ordinal))
            {
                return $"{parts[1]} does not match its checksum";
            }
        }
        return null;
    }

    public static string? KernelVersion(string dir)
    {
        var file = Path.Combine(dir, "kernel-version");
        return File.Exists(file) ? File.ReadAllText(file).Trim() : null;
    }

    private static void Build(HelperPaths paths, TextWriter progress)
    {
        Directory.CreateDirectory(paths.Images);
        var scripts = Directory.CreateTempSubdirectory("pluginvmm-image-");
        try
        {
            var builder = Path.Combine(scripts.FullName, "build-image.sh");
            var init = Path.Combine(scripts.FullName, "helper-init.sh");
            File.WriteAllText(builder, HelperPaths.ReadScript("build-image.sh"));
            File.WriteAllText(init, HelperPaths.ReadScript("helper-init.sh"));
            progress.WriteLine($"vmm: preparing the nested helper once (Debian's cloud kernel, an initramfs) into {paths.Image}");
            var clock = Stopwatch.StartNew();
            var start = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in new[] { builder, paths.Image, paths.Debs, init }) start.ArgumentList.Add(a);
            using var process = Process.Start(start) ?? throw new NestedException("cannot start bash to build the helper image");
            var stdout = process.StandardOutput.ReadToEndAsync();
            var tail = new Queue<string>();
            while (process.StandardError.ReadLine() is { } line)
            {
                if (line.StartsWith("step: ", StringComparison.Ordinal))
                {
                    progress.WriteLine($"vmm: [{clock.Elapsed.TotalSeconds,5:F1} s] {line[6..]}");
                }
                tail.Enqueue(line);
                if (tail.Count > 20) tail.Dequeue();
            }
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                var error = tail.LastOrDefault(l => l.StartsWith("error: ", StringComparison.Ordinal))?[7..];
                throw new NestedException($"building the nested helper image failed: {error ?? string.Join(" | ", tail)}");
            }
            progress.WriteLine($"vmm: [{clock.Elapsed.TotalSeconds,5:F1} s] helper image ready (kernel {stdout.Result.Trim()})");
            // Images of other vmm builds a week old go (another checkout's newer one stays, so two builds in use
            // do not rebuild each other's; a running helper has its kernel in memory already).
            foreach (var old in Directory.EnumerateDirectories(paths.Images)
                         .Where(d => d != paths.Image && Directory.GetLastWriteTimeUtc(d) < DateTime.UtcNow.AddDays(-7)))
            {
                Directory.Delete(old, recursive: true);
            }
        }
        finally
        {
            scripts.Delete(recursive: true);
        }
    }
}

/// <summary>The nested backend cannot do what was asked; the message is for the user, as is.</summary>
internal sealed class NestedException(string message) : Exception(message);
