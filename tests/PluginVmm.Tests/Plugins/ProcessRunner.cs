using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace PluginVmm.Tests.Plugins;

/// <summary>Runs a child process and captures its output; used for `dotnet publish` of samples and for the real vmm.</summary>
internal static class ProcessRunner
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Stdout}\n--- stderr\n{Stderr}";
    }

    public static Result Run(string fileName, IEnumerable<string> arguments, string? workingDirectory = null)
    {
        using var process = Process.Start(StartInfo(fileName, arguments, workingDirectory)) ?? throw new InvalidOperationException($"cannot start {fileName}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Runs the built host: `dotnet vmm.dll args...`.</summary>
    public static Result Vmm(string hostDirectory, params string[] arguments) =>
        Run("dotnet", [Path.Combine(hostDirectory, "vmm.dll"), .. arguments]);

    /// <summary>Starts the built host without waiting for it, for tests that signal it while it runs.</summary>
    public static Running StartVmm(string hostDirectory, params string[] arguments) =>
        StartVmm(hostDirectory, new Dictionary<string, string>(), arguments);

    /// <summary>The same with <paramref name="environment"/> added to the host's.</summary>
    public static Running StartVmm(string hostDirectory, IReadOnlyDictionary<string, string> environment, params string[] arguments)
    {
        var start = StartInfo("dotnet", [Path.Combine(hostDirectory, "vmm.dll"), .. arguments], null);
        foreach (var (k, v) in environment) start.Environment[k] = v;
        return new(Process.Start(start) ?? throw new InvalidOperationException("cannot start dotnet"));
    }

    private static ProcessStartInfo StartInfo(string fileName, IEnumerable<string> arguments, string? workingDirectory)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        // The test host runs inside an MSBuild/VSTest environment; a nested `dotnet publish` must not inherit it.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        return start;
    }

    /// <summary>A started process whose output is collected as it comes, so a test can wait for a line, then signal it.</summary>
    public sealed class Running : IDisposable
    {
        private readonly Process _process;
        private readonly StringBuilder _stdout = new(), _stderr = new();
        private readonly Lock _lock = new();
        private readonly Task _stdoutDone, _stderrDone;

        internal Running(Process process)
        {
            _process = process;
            _stdoutDone = Collect(process.StandardOutput, _stdout);
            _stderrDone = Collect(process.StandardError, _stderr);
        }

        public int Id => _process.Id;

        /// <summary>Waits until stdout contains <paramref name="text"/>; false when the process ended first or the wait ran out.</summary>
        public bool WaitForStdout(string text, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (DateTime.UtcNow < deadline)
            {
                lock (_lock)
                {
                    if (_stdout.ToString().Contains(text, StringComparison.Ordinal)) return true;
                }
                if (_process.HasExited && _stdoutDone.IsCompleted) return false;
                Thread.Sleep(50);
            }
            return false;
        }

        /// <summary>
        /// Sends SIGTERM, as a service manager or `kill` does (Process.Kill would send SIGKILL, which no program can
        /// handle); through the shell's kill builtin, so the tests need no interop of their own.
        /// </summary>
        public void Terminate()
        {
            var result = Run("sh", ["-c", "kill -TERM \"$1\"", "sh", Id.ToString(CultureInfo.InvariantCulture)]);
            if (result.ExitCode != 0) throw new InvalidOperationException($"kill -TERM {Id} failed: {result}");
        }

        /// <summary>The process's end and all it wrote, or null (the process killed) when it did not end within <paramref name="timeout"/>.</summary>
        public Result? WaitForExit(TimeSpan timeout)
        {
            if (!_process.WaitForExit(timeout))
            {
                _process.Kill(entireProcessTree: true);
                return null;
            }
            Task.WaitAll(_stdoutDone, _stderrDone);
            return new Result(_process.ExitCode, Stdout, Stderr);
        }

        /// <summary>What the process wrote to stdout so far.</summary>
        public string Stdout
        {
            get { lock (_lock) return _stdout.ToString(); }
        }

        /// <summary>What the process wrote to stderr so far.</summary>
        public string Stderr
        {
            get { lock (_lock) return _stderr.ToString(); }
        }

        public void Dispose()
        {
            // A test that failed before the process ended must not leave a VM running.
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.Dispose();
        }

        private Task Collect(StreamReader reader, StringBuilder into) => Task.Run(async () =>
        {
            var buffer = new char[4096];
            int n;
            while ((n = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                lock (_lock) into.Append(buffer, 0, n);
            }
        });
    }
}
