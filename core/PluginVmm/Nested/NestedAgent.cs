using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PluginVmm.Core.Hosting;

namespace PluginVmm.Nested;

/// <summary>
/// Runs inside the helper (L1), chrooted into the host's root: accepts one connection per <c>vmm run</c> on the
/// host, checks its token, starts <c>dotnet vmm.dll run --backend kvm ...</c> in the same folder, and streams the
/// VMM's output and exit code back. Signals from the client reach the VMM as the user's Ctrl-C would; a client that
/// disappears stops its VMM. With no session for <c>idle</c>, the agent returns and the helper powers off.
/// </summary>
internal sealed class NestedAgent(string token, TimeSpan idle, TextWriter log)
{
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan StandbyQuietTime = TimeSpan.FromSeconds(3);
    private readonly byte[] _token = Encoding.UTF8.GetBytes(token);
    private readonly Stopwatch _uptime = Stopwatch.StartNew();
    private readonly object _standbyLock = new();
    private (string Key, Process Process)? _standby;
    private int _sessions;
    private long _runsStarted;
    private long _lastActivity = Environment.TickCount64;

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        using var listener = new TcpListener(IPAddress.Any, NestedProtocol.AgentPort);
        listener.Start();
        log.WriteLine($"helper agent: listening on port {NestedProtocol.AgentPort}, idle limit {idle.TotalSeconds:F0} s");
        while (!cancellationToken.IsCancellationRequested)
        {
            var accept = listener.AcceptTcpClientAsync(cancellationToken).AsTask();
            while (!accept.IsCompleted)
            {
                await Task.WhenAny(accept, Task.Delay(TimeSpan.FromSeconds(1), cancellationToken)).ConfigureAwait(false);
                if (!accept.IsCompleted && IsIdle())
                {
                    log.WriteLine($"helper agent: idle for {idle.TotalSeconds:F0} s, powering off");
                    return 0;
                }
            }
            var client = await accept.ConfigureAwait(false);
            _ = Task.Run(() => ServeAsync(client));
        }
        return 0;
    }

    /// <summary>
    /// No session and none for the idle time; a helper that has not run anything yet waits at least a minute, so
    /// the run it was booted for still finds it (its ping and its run are two connections).
    /// </summary>
    private bool IsIdle()
    {
        if (Volatile.Read(ref _sessions) != 0) return false;
        if (Interlocked.Read(ref _runsStarted) == 0 && _uptime.Elapsed < TimeSpan.FromMinutes(1) + idle) return false;
        return Environment.TickCount64 - Volatile.Read(ref _lastActivity) > idle.TotalMilliseconds;
    }

    private async Task ServeAsync(TcpClient client)
    {
        Interlocked.Increment(ref _sessions);
        try
        {
            client.NoDelay = true;
            using var frames = new FrameStream(client.GetStream());
            await SessionAsync(frames).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or InvalidDataException or ObjectDisposedException)
        {
            log.WriteLine($"helper agent: session ended: {e.Message}");
        }
        catch (Exception e)
        {
            log.WriteLine($"helper agent: session failed: {e}");
        }
        finally
        {
            client.Dispose();
            Interlocked.Exchange(ref _lastActivity, Environment.TickCount64);
            Interlocked.Decrement(ref _sessions);
        }
    }

    private async Task SessionAsync(FrameStream frames)
    {
        using var handshake = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        if (await frames.ReadAsync(handshake.Token).ConfigureAwait(false) is not { Type: FrameType.Hello } helloFrame) return;
        var hello = FrameStream.ParseJson<HelloMessage>(helloFrame);
        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(hello.Token), _token))
        {
            await frames.WriteAsync(FrameType.Failed, "wrong token").ConfigureAwait(false);
            return;
        }
        await frames.WriteJsonAsync(FrameType.Welcome,
            new WelcomeMessage(NestedProtocol.Version, Volatile.Read(ref _sessions) - 1, _uptime.Elapsed.TotalSeconds)).ConfigureAwait(false);
        if (hello.Protocol != NestedProtocol.Version) return;

        // A ping (hello only, then close) is how the host checks the helper is alive.
        if (await frames.ReadAsync().ConfigureAwait(false) is not { Type: FrameType.Run } runFrame) return;
        var request = FrameStream.ParseJson<RunRequest>(runFrame);
        Process process;
        try
        {
            process = Start(request);
        }
        catch (Exception e)
        {
            await frames.WriteAsync(FrameType.Failed, $"cannot start {request.Program} in the helper: {e.Message}").ConfigureAwait(false);
            return;
        }
        using (process)
        {
            await RelayAsync(frames, process).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The run's process: for a <c>vmm run</c> the standby started for the same dotnet and vmm.dll when there is one
    /// (its runtime up, its JIT warm), else a fresh process; a new standby follows once the helper is quiet.
    /// </summary>
    private Process Start(RunRequest request)
    {
        string key = StandbyKey(request);
        bool warmable = request.IsVmmRun && !request.Environment.ContainsKey("PLUGINVMM_STARTUP_TRACE");
        Process? process = null;
        lock (_standbyLock)
        {
            if (_standby is { } standby)
            {
                _standby = null;
                if (standby.Key == key && warmable && !standby.Process.HasExited) process = standby.Process;
                else Discard(standby.Process);
            }
        }
        log.WriteLine($"helper agent: [{_uptime.Elapsed.TotalSeconds:F1} s] {request.Program} {string.Join(' ', request.Arguments.Take(3))}: " +
                      (process is null ? "fresh process" : $"standby VMM pid {process.Id}"));
        if (process is not null)
        {
            process.StandardInput.WriteLine(JsonSerializer.Serialize(
                new StandbyRequest(request.WorkingDirectory, request.Arguments[1..], request.Environment), typeof(StandbyRequest), NestedJson.Default));
        }
        else
        {
            process = Launch(request.Program, request.Arguments, request.WorkingDirectory, request.Environment);
        }
        process.StandardInput.Close();
        long run = Interlocked.Increment(ref _runsStarted);
        if (!request.IsVmmRun) return process;
        var exited = process.WaitForExitAsync();   // before the session disposes the process
        _ = Task.Run(async () =>
        {
            // Only once the helper has been quiet for a moment after the run: a standby warming up beside a run
            // takes its CPU (2 vCPUs) and made back-to-back runs slower than fresh starts.
            await exited.ConfigureAwait(false);
            await Task.Delay(StandbyQuietTime).ConfigureAwait(false);
            if (Interlocked.Read(ref _runsStarted) == run && Volatile.Read(ref _sessions) == 0) Replenish(request, key);
        });
        return process;
    }

    private void Replenish(RunRequest request, string key)
    {
        try
        {
            var standby = Launch(request.Program, [request.Arguments[0]], "/",
                new Dictionary<string, string> { [Standby.EnvironmentVariable] = "1" });
            log.WriteLine($"helper agent: [{_uptime.Elapsed.TotalSeconds:F1} s] standby VMM pid {standby.Id} started");
            lock (_standbyLock)
            {
                if (_standby is { } old) Discard(old.Process);
                _standby = (key, standby);
            }
        }
        catch (Exception e)
        {
            log.WriteLine($"helper agent: no standby VMM ({e.Message})");
        }
    }

    private static void Discard(Process process)
    {
        try
        {
            if (!process.HasExited) process.Kill();
        }
        catch (InvalidOperationException)
        {
        }
        process.Dispose();
    }

    /// <summary>A standby is only good for the build it was started from.</summary>
    private static string StandbyKey(RunRequest request)
    {
        if (!request.IsVmmRun) return "";
        var dll = new FileInfo(request.Arguments[0]);
        return $"{request.Program}|{dll.FullName}|{(dll.Exists ? dll.LastWriteTimeUtc.Ticks : 0)}|{(dll.Exists ? dll.Length : 0)}";
    }

    private static Process Launch(string program, IEnumerable<string> arguments, string workingDirectory,
        IReadOnlyDictionary<string, string> environment)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        foreach (var (k, v) in environment) start.Environment[k] = v;
        return Process.Start(start) ?? throw new InvalidOperationException("Process.Start returned null");
    }

    private async Task RelayAsync(FrameStream frames, Process process)
    {
        using var done = new CancellationTokenSource();
        var stdout = PumpAsync(process.StandardOutput.BaseStream, FrameType.Stdout, frames);
        var stderr = PumpAsync(process.StandardError.BaseStream, FrameType.Stderr, frames);
        var heartbeat = HeartbeatAsync(frames, done.Token);
        var control = ControlAsync(frames, process, done.Token);

        await process.WaitForExitAsync().ConfigureAwait(false);
        await Task.WhenAll(stdout, stderr).ConfigureAwait(false);
        log.WriteLine($"helper agent: [{_uptime.Elapsed.TotalSeconds:F1} s] VMM pid {process.Id} exited with {process.ExitCode}");
        done.Cancel();
        await frames.WriteAsync(FrameType.Exit, process.ExitCode).ConfigureAwait(false);
        await Task.WhenAll(heartbeat, control).ConfigureAwait(false);
    }

    private static async Task PumpAsync(Stream from, FrameType type, FrameStream to)
    {
        var buffer = new byte[16384];
        int n;
        while ((n = await from.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            try
            {
                await to.WriteAsync(type, buffer.AsMemory(0, n)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                // The client is gone; keep draining so the VMM never blocks on a full pipe while it stops.
            }
        }
    }

    private static async Task HeartbeatAsync(FrameStream frames, CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(NestedProtocol.HeartbeatInterval, cancellationToken).ConfigureAwait(false);
                await frames.WriteAsync(FrameType.Alive, ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Signals from the client go to the VMM; the client's end (closed or broken) stops it.</summary>
    private async Task ControlAsync(FrameStream frames, Process process, CancellationToken cancellationToken)
    {
        try
        {
            while (await frames.ReadAsync(cancellationToken).ConfigureAwait(false) is { } frame)
            {
                if (frame.Type == FrameType.Signal && frame.Int32 is ProcessSignal.Interrupt or ProcessSignal.Terminate)
                {
                    ProcessSignal.Send(process.Id, frame.Int32);
                }
            }
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (Exception e) when (e is IOException or SocketException or InvalidDataException or ObjectDisposedException)
        {
        }
        if (cancellationToken.IsCancellationRequested) return;
        log.WriteLine($"helper agent: client of VMM pid {process.Id} went away; stopping it");
        ProcessSignal.Send(process.Id, ProcessSignal.Terminate);
        using var grace = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        grace.CancelAfter(StopGrace);
        try
        {
            await process.WaitForExitAsync(grace.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            process.Kill();
        }
        catch (OperationCanceledException)
        {
        }
    }
}
