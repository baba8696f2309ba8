using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace PluginVmm.Nested;

/// <summary>
/// The wire between <c>vmm run</c> on the host and the agent in the helper: one TCP connection per run, frames of
/// <c>type (1 byte) | length (4 bytes, little endian) | payload</c>. The client says hello (token) and sends one run
/// request, later perhaps signals; the agent answers with the VMM's stdout and stderr bytes as they come, a heartbeat
/// every <see cref="HeartbeatInterval"/> (so a frozen helper is told from a quiet guest), and the exit code last.
/// </summary>
internal static class NestedProtocol
{
    /// <summary>Bumped on any change to frames or requests; a helper speaking another version is replaced.</summary>
    public const int Version = 2;

    /// <summary>The agent's port inside the helper (the host reaches it through QEMU's forwarded loopback port).</summary>
    public const int AgentPort = 7001;

    /// <summary>Frames larger than this are a broken peer, not data.</summary>
    public const int MaxPayload = 1 << 20;

    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(2);
}

/// <summary>Frame types; below 10 the client sends them, from 10 the agent.</summary>
internal enum FrameType : byte
{
    Hello = 1,
    Run = 2,
    Signal = 3,
    Welcome = 10,
    Stdout = 11,
    Stderr = 12,
    Exit = 13,
    Alive = 14,
    Failed = 15,
}

internal readonly record struct Frame(FrameType Type, byte[] Payload)
{
    public int Int32 => BinaryPrimitives.ReadInt32LittleEndian(Payload);

    public string Text => Encoding.UTF8.GetString(Payload);
}

/// <summary>The client's first frame: who it is (the token proves it may use the helper) and what it speaks.</summary>
internal sealed record HelloMessage(int Protocol, string Token);

/// <summary>The agent's answer: its protocol and how busy it is (a replaced helper must not cut running VMs).</summary>
internal sealed record WelcomeMessage(int Protocol, int Sessions, double UptimeSeconds);

/// <summary>
/// One command in the helper, paths as on the host (L1 sees the host's root): <c>dotnet vmm.dll run ...</c> for
/// <c>vmm run</c>, anything for <c>vmm nested-exec</c>.
/// </summary>
internal sealed record RunRequest(string Program, string[] Arguments, string WorkingDirectory, Dictionary<string, string> Environment)
{
    /// <summary>A <c>vmm run</c> (<c>dotnet VMM.dll run ...</c>), which a standby process can take.</summary>
    public bool IsVmmRun => Arguments.Length >= 2 && Arguments[0].EndsWith("vmm.dll", StringComparison.Ordinal) && Arguments[1] == "run";
}

[JsonSerializable(typeof(HelloMessage))]
[JsonSerializable(typeof(WelcomeMessage))]
[JsonSerializable(typeof(RunRequest))]
[JsonSerializable(typeof(StandbyRequest))]
internal sealed partial class NestedJson : JsonSerializerContext;

/// <summary>Reads and writes frames on a stream; writes are serialized, so several pumps may share one.</summary>
internal sealed class FrameStream(Stream stream) : IDisposable
{
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    public async Task WriteAsync(FrameType type, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken = default)
    {
        var header = new byte[5];
        header[0] = (byte)type;
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(1), payload.Length);
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await stream.WriteAsync(header, cancellationToken).ConfigureAwait(false);
            if (payload.Length > 0) await stream.WriteAsync(payload, cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public Task WriteAsync(FrameType type, int value, CancellationToken cancellationToken = default)
    {
        var payload = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(payload, value);
        return WriteAsync(type, payload, cancellationToken);
    }

    public Task WriteAsync(FrameType type, string text, CancellationToken cancellationToken = default) =>
        WriteAsync(type, Encoding.UTF8.GetBytes(text), cancellationToken);

    public Task WriteJsonAsync<T>(FrameType type, T message, CancellationToken cancellationToken = default) =>
        WriteAsync(type, JsonSerializer.SerializeToUtf8Bytes(message, typeof(T), NestedJson.Default), cancellationToken);

    /// <summary>The next frame, or null at a clean end of stream.</summary>
    /// <exception cref="InvalidDataException">A truncated frame or an oversized length.</exception>
    public async Task<Frame?> ReadAsync(CancellationToken cancellationToken = default)
    {
        var header = new byte[5];
        int got = await ReadFullyAsync(header, cancellationToken).ConfigureAwait(false);
        if (got == 0) return null;
        if (got < header.Length) throw new InvalidDataException("the connection ended inside a frame header");
        int length = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(1));
        if (length is < 0 or > NestedProtocol.MaxPayload) throw new InvalidDataException($"frame length {length} is out of range");
        var payload = new byte[length];
        if (await ReadFullyAsync(payload, cancellationToken).ConfigureAwait(false) < length)
        {
            throw new InvalidDataException("the connection ended inside a frame");
        }
        return new Frame((FrameType)header[0], payload);
    }

    public static T ParseJson<T>(Frame frame) =>
        (T?)JsonSerializer.Deserialize(frame.Payload, typeof(T), NestedJson.Default)
        ?? throw new InvalidDataException($"empty {typeof(T).Name}");

    private async Task<int> ReadFullyAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer[total..], cancellationToken).ConfigureAwait(false);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    public void Dispose()
    {
        stream.Dispose();
        _writeLock.Dispose();
    }
}
