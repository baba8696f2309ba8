using System.Buffers.Binary;
using PluginVmm.Sdk.Memory;
using static PluginVmm.Plugins.PvMemControl.PvMemControlProtocol;

namespace PluginVmm.Plugins.PvMemControl;

/// <summary>
/// The transport state machine behind BAR0. States: Broken (initial, and after anything unexpected), PercpuInit
/// (after Reset: Register adds buffers), Ready (the connection map is frozen; requests are served). Every transport
/// command answers Ack or Error in the command register; Register's Ack carries the new connection id in the low
/// dword of the payload (the other answers zero it). Guest values only: nothing here throws.
/// </summary>
internal sealed class PvMemControlTransport
{
    private enum State { Broken, PercpuInit, Ready }

    private readonly IGuestMemory _memory;

    private readonly Dictionary<uint, ulong> _buffers = [];
    private readonly byte[] _registers = new byte[TransportSize];
    private State _state = State.Broken;
    private uint _nextConnection = FirstConnection;

    /// <summary>Starts Broken, the command register reading Error, until the guest sends Reset.</summary>
    public PvMemControlTransport(IGuestMemory memory)
    {
        _memory = memory;
        Break();
    }

    /// <summary>True once Ready was acknowledged (and no command broke the transport since).</summary>
    public bool IsReady => _state == State.Ready;

    /// <summary>True in the Broken state.</summary>
    public bool IsBroken => _state == State.Broken;

    /// <summary>Number of registered buffers.</summary>
    public int ConnectionCount => _buffers.Count;

    /// <summary>Copies transport bytes at <paramref name="offset"/>; bytes past the 16-byte transport read as zero.</summary>
    public void Read(ulong offset, Span<byte> data)
    {
        data.Clear();
        if (offset >= TransportSize) return;
        var src = _registers.AsSpan((int)offset);
        src[..Math.Min(src.Length, data.Length)].CopyTo(data);
    }

    /// <summary>A payload write: 4 or 8 bytes inside bytes 0..7, else ignored (false).</summary>
    public bool WritePayload(ulong offset, ReadOnlySpan<byte> data)
    {
        if (data.Length is not (4 or 8) || offset > PayloadSize || (ulong)data.Length > PayloadSize - offset) return false;
        data.CopyTo(_registers.AsSpan((int)offset));
        return true;
    }

    /// <summary>Runs transport command <paramref name="command"/> (one of the protocol's values).</summary>
    public void RunCommand(uint command)
    {
        switch (command)
        {
            case Reset:
                _buffers.Clear();
                _nextConnection = FirstConnection;
                Answer(State.PercpuInit, Ack, 0);
                break;
            case Register when _state == State.PercpuInit:
                RegisterBuffer(BinaryPrimitives.ReadUInt64LittleEndian(_registers));
                break;
            case Ready when _state == State.PercpuInit:
                Answer(State.Ready, Ack, 0);
                break;
            default: // Register/Ready out of order, Disconnect, Ack or Error sent as commands
                Break();
                break;
        }
    }

    /// <summary>The buffer of connection <paramref name="connection"/>, when the transport is Ready and it exists.</summary>
    public bool TryGetBuffer(uint connection, out ulong buffer)
    {
        buffer = 0;
        return _state == State.Ready && _buffers.TryGetValue(connection, out buffer);
    }

    private void RegisterBuffer(ulong buffer)
    {
        // The device reads the request from and writes the response to this buffer: all of it must be guest RAM.
        if (!_memory.Contains(buffer, MessageSize) || _buffers.Count >= MaxConnections)
        {
            Break();
            return;
        }
        uint id = _nextConnection;
        while (_buffers.ContainsKey(id)) id = Next(id); // terminates: fewer than 2^31 ids are in use
        _buffers[id] = buffer;
        _nextConnection = Next(id);
        Answer(State.PercpuInit, Ack, id);
    }

    private static uint Next(uint id) => id == uint.MaxValue ? FirstConnection : id + 1;

    private void Break() => Answer(State.Broken, Error, 0);

    private void Answer(State state, uint command, uint payload)
    {
        _state = state;
        if (state == State.Broken) _buffers.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(_registers, payload);
        BinaryPrimitives.WriteUInt32LittleEndian(_registers.AsSpan(CommandOffset), command);
    }
}
