using System.Net;
using System.Net.Sockets;
using PluginVmm.Core.Hosting;

namespace PluginVmm.Nested;

/// <summary>
/// <c>vmm run</c> through the helper: the same command runs there on a real KVM, its console and messages stream
/// here, and its exit code becomes ours. Ctrl-C or SIGTERM here is sent on as SIGTERM. A helper that goes silent
/// for <see cref="StallLimit"/> (no output and no heartbeat) is frozen; one that drops the connection has died.
/// Either is a helper fault, not the VMM's: the run is tried once more in a fresh helper, said on stderr and
/// appended to <c>$PLUGINVMM_RETRY_LOG</c> so a test run can report it. A second fault ends the run with exit 1.
/// </summary>
internal sealed class NestedRunner(HelperPaths paths, Stream stdout, TextWriter stderr)
{
    private static readonly TimeSpan StallLimit = TimeSpan.FromSeconds(
        int.TryParse(Environment.GetEnvironmentVariable("PLUGINVMM_NESTED_STALL_S"), out var s) && s > 0 ? s : 45);

    private readonly System.Text.Decoder _stderrText = System.Text.Encoding.UTF8.GetDecoder();

    /// <summary>Environment variables the VMM in the helper gets from ours.</summary>
    private static readonly string[] Forwarded = ["PLUGINVMM_STARTUP_TRACE", "TERM"];

    /// <summary><c>vmm ARGS</c> in the helper (the VMM's own dotnet and vmm.dll).</summary>
    public int Run(string[] arguments, CancellationToken cancellationToken) =>
        Exec(Environment.ProcessPath ?? "dotnet", [Path.Combine(AppContext.BaseDirectory, "vmm.dll"), .. arguments], new Dictionary<string, string>(), cancellationToken);

    /// <summary>Any program in the helper, in this folder, with our forwarded environment plus <paramref name="environment"/>.</summary>
    public int Exec(string program, string[] arguments, IReadOnlyDictionary<string, string> environment, CancellationToken cancellationToken)
    {
        var helper = new HelperVm(paths, stderr);
        for (int attempt = 1; ; attempt++)
        {
            HelperEndpoint? endpoint = null;
            try
            {
                endpoint = helper.Ensure();
                return Session(endpoint, program, arguments, environment, cancellationToken);
            }
            catch (HelperFaultException e) when (attempt == 1 && !cancellationToken.IsCancellationRequested)
            {
                var note = $"nested: {e.Message}; the VM was run again in a fresh helper";
                stderr.WriteLine($"vmm: {e.Message}; running the VM once more in a fresh helper");
                AppendRetryLog(note);
                // Only the helper this run found at fault: another run may have started a fresh one meanwhile.
                if (endpoint is not null) helper.Stop(endpoint.QemuPid);
            }
            catch (HelperFaultException e)
            {
                stderr.WriteLine($"error: {e.Message} (the helper's console: {paths.Console})");
                return ExitCodes.VmmError;
            }
            catch (NestedException e)
            {
                stderr.WriteLine($"error: nested backend: {e.Message}");
                return ExitCodes.VmmError;
            }
        }
    }

    private int Session(HelperEndpoint endpoint, string program, string[] arguments, IReadOnlyDictionary<string, string> extra,
        CancellationToken cancellationToken)
    {
        using var client = new TcpClient();
        try
        {
            client.Connect(IPAddress.Loopback, endpoint.Port);
        }
        catch (SocketException e)
        {
            throw new HelperFaultException($"the nested helper does not accept connections ({e.Message})");
        }
        client.NoDelay = true;
        using var frames = new FrameStream(client.GetStream());
        var environment = Forwarded.Select(n => (n, v: Environment.GetEnvironmentVariable(n)))
            .Where(p => p.v is not null).ToDictionary(p => p.n, p => p.v!);
        foreach (var (k, v) in extra) environment[k] = v;
        var request = new RunRequest(program, arguments, Environment.CurrentDirectory, environment);
        frames.WriteJsonAsync(FrameType.Hello, new HelloMessage(NestedProtocol.Version, endpoint.Token)).GetAwaiter().GetResult();
        frames.WriteJsonAsync(FrameType.Run, request).GetAwaiter().GetResult();

        using var onCancel = cancellationToken.Register(() =>
        {
            try
            {
                frames.WriteAsync(FrameType.Signal, ProcessSignal.Terminate).GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                // The read loop below sees the broken connection and reports it.
            }
        });
        while (true)
        {
            Frame? frame;
            using (var stall = new CancellationTokenSource(StallLimit))
            {
                try
                {
                    frame = frames.ReadAsync(stall.Token).GetAwaiter().GetResult();
                }
                catch (OperationCanceledException)
                {
                    throw new HelperFaultException($"the nested helper froze (no word from it for {StallLimit.TotalSeconds:F0} s)");
                }
                catch (Exception e) when (e is IOException or SocketException or InvalidDataException)
                {
                    throw Died(endpoint, e.Message);
                }
            }
            switch (frame)
            {
                case null:
                    throw Died(endpoint, "the connection closed before the VM's exit code");
                case { Type: FrameType.Stdout }:
                    stdout.Write(frame.Value.Payload);
                    stdout.Flush();
                    break;
                case { Type: FrameType.Stderr }:
                    // One decoder for the run: a frame may end inside a multi-byte character.
                    var chars = new char[_stderrText.GetCharCount(frame.Value.Payload, flush: false)];
                    _stderrText.GetChars(frame.Value.Payload, chars, flush: false);
                    stderr.Write(chars);
                    stderr.Flush();
                    break;
                case { Type: FrameType.Exit }:
                    return frame.Value.Int32;
                case { Type: FrameType.Failed }:
                    throw new NestedException(frame.Value.Text);
                case { Type: FrameType.Welcome } w when FrameStream.ParseJson<WelcomeMessage>(w).Protocol != NestedProtocol.Version:
                    throw new HelperFaultException("the running nested helper speaks another protocol version");
            }
        }
    }

    private HelperFaultException Died(HelperEndpoint endpoint, string why) =>
        HelperVm.IsHelperProcess(endpoint.QemuPid)
            ? new HelperFaultException($"the nested helper's agent dropped the run ({why})")
            : new HelperFaultException($"the nested helper died during the run ({why}); its console says: {HelperVm.ConsoleTail(paths, 6)}");

    private static void AppendRetryLog(string line)
    {
        var path = Environment.GetEnvironmentVariable("PLUGINVMM_RETRY_LOG");
        if (string.IsNullOrEmpty(path)) return;
        try
        {
            File.AppendAllText(path, line + Environment.NewLine);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Reporting a retry must not turn it into a failure.
        }
    }
}
