using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using PluginVmm.Core.Hosting;

namespace PluginVmm.Nested;

/// <summary>A running helper the host can reach: its forwarded loopback port and the token that opens it.</summary>
internal sealed record HelperEndpoint(int Port, string Token, int QemuPid);

/// <summary>
/// The helper VM (L1): QEMU in TCG mode with nested SVM, the host's root shared over virtio-fs (Debian's virtiofsd),
/// a user-mode network that only forwards one loopback port to the agent. It is started detached from the
/// terminal, so Ctrl-C on one <c>vmm run</c> never reaches it, and stays warm for <see cref="IdleSeconds"/> after
/// its last run so the next <c>vmm run</c> skips the boot. Start and reuse happen under one file lock.
/// </summary>
internal sealed class HelperVm(HelperPaths paths, TextWriter progress)
{
    public const string Marker = "pluginvmm-helper";
    private const string GuestIp = "10.254.254.15";

    /// <summary>Helper RAM in MiB (<c>PLUGINVMM_NESTED_MEMORY_MIB</c>); pages are touched only as L1 uses them.</summary>
    public static int MemoryMib { get; } = EnvInt("PLUGINVMM_NESTED_MEMORY_MIB", 4096);

    /// <summary>How long an unused helper stays up (<c>PLUGINVMM_NESTED_IDLE_S</c>; 0: it ends with the last run).</summary>
    public static int IdleSeconds { get; } = EnvInt("PLUGINVMM_NESTED_IDLE_S", 300);

    private static int BootTimeoutSeconds { get; } = EnvInt("PLUGINVMM_NESTED_BOOT_TIMEOUT_S", 120);

    /// <summary>A helper with an IOMMU and QEMU's edu bound to vfio-pci (<c>PLUGINVMM_NESTED_VFIO=1</c>).</summary>
    private static bool WithVfioFunction { get; } = Environment.GetEnvironmentVariable("PLUGINVMM_NESTED_VFIO") == "1";

    /// <summary>Where Debian puts virtiofsd: 12's qemu-system-common, later releases' virtiofsd package.</summary>
    public static readonly string[] VirtiofsdPaths = ["/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd"];

    /// <summary>The installed virtiofsd, or null.</summary>
    public static string? Virtiofsd => VirtiofsdPaths.FirstOrDefault(File.Exists);

    /// <summary>The helper, started (and its image built) if none answers.</summary>
    public HelperEndpoint Ensure()
    {
        Directory.CreateDirectory(paths.Root);
        using var held = AcquireLock();
        if (Probe() is { } running) return running;
        StopLocked(null);
        var image = HelperImage.Ensure(paths, progress);
        return Start(image);
    }

    /// <summary>The running helper when its agent answers a ping with our protocol, else null.</summary>
    public HelperEndpoint? Probe()
    {
        if (ReadPid() is not { } pid || !IsHelperProcess(pid)) return null;
        if (!File.Exists(paths.Port) || !File.Exists(paths.Token)) return null;
        var endpoint = new HelperEndpoint(int.Parse(File.ReadAllText(paths.Port).Trim(), CultureInfo.InvariantCulture),
            File.ReadAllText(paths.Token).Trim(), pid);
        var welcome = Ping(endpoint, TimeSpan.FromSeconds(10));
        return welcome?.Protocol == NestedProtocol.Version ? endpoint : null;
    }

    /// <summary>Stops a helper of ours, whatever state it is in (frozen, busy, another protocol).</summary>
    /// <param name="only">Stop only this QEMU (the one a run found frozen), not one another run has started since.</param>
    public void Stop(int? only = null)
    {
        using var held = AcquireLock();
        StopLocked(only);
    }

    private void StopLocked(int? only)
    {
        var current = ReadPid();
        if (only is { } frozen && current != frozen)
        {
            if (IsHelperProcess(frozen)) End(frozen);
            return;
        }
        if (current is { } pid && IsHelperProcess(pid)) End(pid);
        if (File.Exists(paths.QemuPid)) File.Delete(paths.QemuPid);
        // Its virtiofsd ends when QEMU disconnects, but not always before the next start wants the same socket
        // (virtiofsd locks a pid file named after it).
        foreach (var stale in VirtiofsdPids()) End(stale);
    }

    private static void End(int pid)
    {
        ProcessSignal.Send(pid, ProcessSignal.Terminate);
        for (int i = 0; i < 50 && ProcessSignal.IsAlive(pid); i++) Thread.Sleep(100);
        if (ProcessSignal.IsAlive(pid)) ProcessSignal.Send(pid, 9);
        for (int i = 0; i < 50 && ProcessSignal.IsAlive(pid); i++) Thread.Sleep(100);
    }

    /// <summary>The virtiofsd processes serving this helper's socket.</summary>
    private IEnumerable<int> VirtiofsdPids()
    {
        string marker = $"--socket-path={paths.VirtiofsSocket}";
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            string cmdline;
            try
            {
                cmdline = File.ReadAllText(Path.Combine(dir, "cmdline"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            if (cmdline.Contains("virtiofsd", StringComparison.Ordinal) && cmdline.Split('\0').Contains(marker)) yield return pid;
        }
    }

    public int? ReadPid()
    {
        try
        {
            return int.TryParse(File.ReadAllText(paths.QemuPid).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>A pid file can outlive its process and the number be reused: check it is our QEMU.</summary>
    public static bool IsHelperProcess(int pid)
    {
        try
        {
            return ProcessSignal.IsAlive(pid) && File.ReadAllText($"/proc/{pid}/cmdline").Contains(Marker, StringComparison.Ordinal);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Hello and welcome on a fresh connection; null when nothing answers within <paramref name="timeout"/>.</summary>
    public static WelcomeMessage? Ping(HelperEndpoint endpoint, TimeSpan timeout)
    {
        try
        {
            using var cts = new CancellationTokenSource(timeout);
            using var client = new TcpClient();
            client.ConnectAsync(IPAddress.Loopback, endpoint.Port, cts.Token).AsTask().GetAwaiter().GetResult();
            using var frames = new FrameStream(client.GetStream());
            frames.WriteJsonAsync(FrameType.Hello, new HelloMessage(NestedProtocol.Version, endpoint.Token), cts.Token).GetAwaiter().GetResult();
            var answer = frames.ReadAsync(cts.Token).GetAwaiter().GetResult();
            return answer is { Type: FrameType.Welcome } w ? FrameStream.ParseJson<WelcomeMessage>(w) : null;
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or InvalidDataException
                                       or System.Text.Json.JsonException)
        {
            return null;
        }
    }

    private HelperEndpoint Start(string image)
    {
        var clock = Stopwatch.StartNew();
        progress.WriteLine("vmm: starting the nested helper (QEMU TCG, nested SVM); it stays up " +
                           (IdleSeconds > 0 ? $"{IdleSeconds} s after its last VM" : "only for this VM"));
        if (File.Exists(paths.Console))
        {
            // The last helper's console is the evidence when it froze or died: kept until the next start.
            File.Move(paths.Console, Path.Combine(paths.Root, "console.previous.log"), overwrite: true);
        }
        if (Directory.Exists(paths.Helper)) Directory.Delete(paths.Helper, recursive: true);
        Directory.CreateDirectory(paths.Helper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        CopyAgent();
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        File.WriteAllText(paths.Token, token, new System.Text.UTF8Encoding(false));
        File.SetUnixFileMode(paths.Token, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        StartVirtiofsd();
        int port = FreeLoopbackPort();
        File.WriteAllText(paths.Port, port.ToString(CultureInfo.InvariantCulture));
        StartQemu(image, port);
        var pid = ReadPid() ?? throw new NestedException($"QEMU wrote no pid file ({paths.QemuPid})");
        var endpoint = new HelperEndpoint(port, token, pid);
        while (clock.Elapsed < TimeSpan.FromSeconds(BootTimeoutSeconds))
        {
            if (!ProcessSignal.IsAlive(pid))
            {
                throw new HelperFaultException($"the nested helper ended while booting; its console says: {ConsoleTail(paths, 6)}");
            }
            if (Ping(endpoint, TimeSpan.FromSeconds(5)) is { Protocol: NestedProtocol.Version })
            {
                progress.WriteLine($"vmm: nested helper ready in {clock.Elapsed.TotalSeconds:F1} s");
                return endpoint;
            }
            Thread.Sleep(250);
        }
        StopLocked(null);
        throw new HelperFaultException($"the nested helper did not answer within {BootTimeoutSeconds} s of its start (frozen); " +
                                       $"its console says: {ConsoleTail(paths, 6)}");
    }

    /// <summary>The last lines L1 printed, on one line, for error messages.</summary>
    public static string ConsoleTail(HelperPaths paths, int lines)
    {
        try
        {
            var all = File.ReadAllLines(paths.Console).Where(l => l.Trim().Length > 0).ToArray();
            return all.Length == 0 ? "(nothing)" : string.Join(" | ", all[Math.Max(0, all.Length - lines)..].Select(l => l.Trim()));
        }
        catch (IOException)
        {
            return "(no console log)";
        }
    }

    private void CopyAgent()
    {
        Directory.CreateDirectory(paths.Agent);
        foreach (var file in Directory.EnumerateFiles(AppContext.BaseDirectory))
        {
            if (file.EndsWith(".dll", StringComparison.Ordinal) || file.EndsWith(".json", StringComparison.Ordinal))
            {
                File.Copy(file, Path.Combine(paths.Agent, Path.GetFileName(file)));
            }
        }
    }

    private void StartVirtiofsd()
    {
        var virtiofsd = Virtiofsd
            ?? throw new NestedException("Debian's virtiofsd is not installed (apt-get install qemu-system-common)");
        // setsid -f: its own session, so the terminal's Ctrl-C never reaches it; it ends when QEMU disconnects.
        Run("sh", ["-c", "exec setsid -f \"$0\" --socket-path=\"$1\" -o source=/ -o cache=auto -o sandbox=chroot -f </dev/null >>\"$2\" 2>&1",
            virtiofsd, paths.VirtiofsSocket, paths.VirtiofsLog], "virtiofsd");
        for (int i = 0; i < 100 && !File.Exists(paths.VirtiofsSocket); i++) Thread.Sleep(50);
        if (!File.Exists(paths.VirtiofsSocket))
        {
            throw new NestedException($"virtiofsd did not create {paths.VirtiofsSocket}: {File.ReadAllText(paths.VirtiofsLog).Trim()}");
        }
    }

    private void StartQemu(string image, int port)
    {
        var dotnet = Environment.ProcessPath ?? "/usr/bin/dotnet";
        string append = string.Join(' ', "console=ttyS0 quiet panic=-1 mitigations=off", WithVfioFunction ? "intel_iommu=on" : "", $"pluginvmm.ip={GuestIp}",
            $"pluginvmm.dotnet={dotnet}", $"pluginvmm.agent={Path.Combine(paths.Agent, "vmm.dll")}",
            $"pluginvmm.state={paths.Helper}", $"pluginvmm.idle={IdleSeconds}");
        string[] args =
        [
            "-name", $"{Marker},process={Marker}",
            "-accel", "tcg,thread=multi", "-M", "q35", "-cpu", "EPYC,+svm", "-smp", "2", "-m", $"{MemoryMib}",
            "-object", $"memory-backend-memfd,id=mem,size={MemoryMib}M,share=on", "-numa", "node,memdev=mem",
            "-chardev", $"socket,id=vfs,path={paths.VirtiofsSocket}",
            "-device", "vhost-user-fs-pci,queue-size=1024,chardev=vfs,tag=hostroot",
            "-netdev", $"user,id=net0,net=10.254.254.0/24,restrict=on,hostfwd=tcp:127.0.0.1:{port}-{GuestIp}:{NestedProtocol.AgentPort}",
            "-device", "virtio-net-pci,netdev=net0,romfile=",
            "-kernel", Path.Combine(image, "vmlinuz"), "-initrd", Path.Combine(image, "initramfs.cpio"), "-append", append,
            "-display", "none", "-serial", $"file:{paths.Console}", "-no-reboot",
            "-daemonize", "-pidfile", paths.QemuPid,
            // With PLUGINVMM_NESTED_VFIO=1: an emulated IOMMU (interrupt remapping, which VFIO needs for MSI) and
            // QEMU's edu function, so VFIO in the helper works against a real function (the VFIO conformance tests).
            // Not by default: it slows the boot and adds the emulated remapping under every guest.
            .. (WithVfioFunction ? new[] { "-device", "intel-iommu,intremap=on", "-device", "edu" } : []),
        ];
        Run("qemu-system-x86_64", args, "QEMU");
    }

    /// <summary>Runs a launcher that returns once its daemon is detached; its complaints become the error.</summary>
    private static void Run(string file, string[] args, string what)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new NestedException($"cannot start {file}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new NestedException($"cannot start {file} ({e.Message}); the nested backend needs QEMU: apt-get install qemu-system-x86");
        }
        using (process)
        {
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            _ = stdout.Result;
            if (process.ExitCode != 0)
            {
                var lines = stderr.Split('\n').Where(l => l.Length > 0 && !l.Contains("TCG doesn't support", StringComparison.Ordinal));
                throw new NestedException($"{what} failed to start (exit {process.ExitCode}): {string.Join(" | ", lines)}");
            }
        }
    }

    private static int FreeLoopbackPort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private FileStream AcquireLock()
    {
        var waited = Stopwatch.StartNew();
        bool said = false;
        while (true)
        {
            try
            {
                return new FileStream(paths.Lock, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (waited.Elapsed < TimeSpan.FromMinutes(10))
            {
                if (!said && waited.Elapsed > TimeSpan.FromSeconds(2))
                {
                    progress.WriteLine("vmm: waiting for another vmm that is starting the nested helper");
                    said = true;
                }
                Thread.Sleep(200);
            }
        }
    }

    private static int EnvInt(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : fallback;
}

/// <summary>The helper froze or died: the run may be tried once more in a fresh helper.</summary>
internal sealed class HelperFaultException(string message) : Exception(message);
