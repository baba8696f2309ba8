using PluginVmm.Sdk.Memory;

namespace PluginVmm.Sdk.Virtio;

/// <summary>One guest buffer of a descriptor chain.</summary>
public readonly record struct VirtqBuffer(ulong Address, uint Length);

/// <summary>A chain to hand back on the used ring: its head index and the bytes the device wrote into it.</summary>
public readonly record struct UsedElement(ushort Head, uint Written);

/// <summary>
/// A request taken from a virtqueue: its head index (to hand back with <see cref="SplitVirtqueue.Complete"/>) and its
/// buffers, split into the device-readable ones (which come first) and the device-writable ones. The chain's
/// structure has been checked; when a buffer is unusable (outside guest RAM, lengths that add up past 4 GiB,
/// readable after writable) <see cref="Error"/> says why and the device must fail the request.
/// Buffers are addresses, not spans: read and write them through <see cref="IGuestMemory"/> per request.
/// </summary>
public sealed class DescriptorChain
{
    internal DescriptorChain(ushort head, VirtqBuffer[] readable, VirtqBuffer[] writable, string? error)
    {
        Head = head;
        _readable = readable;
        _writable = writable;
        Error = error;
        foreach (var b in readable) ReadableLength += b.Length;
        foreach (var b in writable) WritableLength += b.Length;
    }

    /// <summary>Index of the chain's first descriptor.</summary>
    public ushort Head { get; }

    private readonly VirtqBuffer[] _readable, _writable;

    /// <summary>Device-readable buffers, in order.</summary>
    public IReadOnlyList<VirtqBuffer> Readable => _readable;

    /// <summary>Device-writable buffers, in order.</summary>
    public IReadOnlyList<VirtqBuffer> Writable => _writable;

    /// <summary>Sum of the readable lengths.</summary>
    public ulong ReadableLength { get; }

    /// <summary>Sum of the writable lengths.</summary>
    public ulong WritableLength { get; }

    /// <summary>Why the buffers cannot be used; null when they can.</summary>
    public string? Error { get; }

    /// <summary>
    /// Copies readable bytes starting <paramref name="offset"/> bytes into the readable part into
    /// <paramref name="destination"/>; returns how many were copied (fewer when the chain is shorter).
    /// </summary>
    public int Read(IGuestMemory memory, ulong offset, Span<byte> destination)
    {
        var walker = new PieceWalker(_readable, offset, destination.Length);
        int done = 0;
        while (walker.Next(out ulong address, out int length))
        {
            memory.Read(address, destination.Slice(done, length));
            done += length;
        }
        return done;
    }

    /// <summary>
    /// Copies <paramref name="source"/> into the writable part starting <paramref name="offset"/> bytes in; returns
    /// how many bytes fit.
    /// </summary>
    public int Write(IGuestMemory memory, ulong offset, ReadOnlySpan<byte> source)
    {
        var walker = new PieceWalker(_writable, offset, source.Length);
        int done = 0;
        while (walker.Next(out ulong address, out int length))
        {
            memory.Write(address, source.Slice(done, length));
            done += length;
        }
        return done;
    }

    // The pieces of Pieces without an enumerator object: Read and Write run for every packet.
    private struct PieceWalker(VirtqBuffer[] buffers, ulong offset, int count)
    {
        private int _index;
        private ulong _skip = offset;
        private int _left = count;

        public bool Next(out ulong address, out int length)
        {
            while (_left > 0 && _index < buffers.Length)
            {
                var b = buffers[_index++];
                if (_skip >= b.Length)
                {
                    _skip -= b.Length;
                    continue;
                }
                address = b.Address + _skip;
                length = (int)Math.Min((ulong)_left, b.Length - _skip);
                _skip = 0;
                _left -= length;
                return true;
            }
            address = 0;
            length = 0;
            return false;
        }
    }

    /// <summary>
    /// The (guest address, length) pieces covering <paramref name="count"/> bytes of <paramref name="buffers"/>
    /// starting <paramref name="offset"/> bytes in (fewer bytes when the buffers end first).
    /// </summary>
    public static IEnumerable<(ulong Address, int Length)> Pieces(IReadOnlyList<VirtqBuffer> buffers, ulong offset, int count)
    {
        ulong skip = offset;
        int left = count;
        foreach (var b in buffers)
        {
            if (left == 0) yield break;
            if (skip >= b.Length)
            {
                skip -= b.Length;
                continue;
            }
            int n = (int)Math.Min((ulong)left, b.Length - skip);
            yield return (b.Address + skip, n);
            skip = 0;
            left -= n;
        }
    }
}
