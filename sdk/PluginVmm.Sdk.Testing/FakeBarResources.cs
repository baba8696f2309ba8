using PluginVmm.Sdk.Resources;

namespace PluginVmm.Sdk.Testing;

/// <summary>
/// <see cref="IBarResources"/> without KVM: ioeventfds are <see cref="ManualIoEvent"/>s that a test signals the way
/// KVM would on a guest write (<see cref="SignalWrite"/>); <see cref="MapFile"/> hands out zeroed in-memory host
/// memory (the file is not touched) and <see cref="MapIntoBar"/> records the mapping in <see cref="Mappings"/>.
/// File descriptors (<see cref="MapFd"/>) go to <see cref="FdMapper"/>: a device over a real host function (VFIO)
/// needs its regions really mapped, so a test of one supplies the host's mapping; without it they are refused.
/// </summary>
public sealed class FakeBarResources : IBarResources
{

    /// <summary>When false, <see cref="AddIoEvent"/> throws (a platform without ioeventfds).</summary>
    public bool SupportsIoEvents { get; set; } = true;

    /// <summary>Registered ioeventfds.</summary>
    public List<ManualIoEvent> IoEvents { get; } = [];

    /// <summary>Memory attached to BARs through <see cref="MapIntoBar"/> and not yet disposed.</summary>
    public List<BarMapping> Mappings { get; } = [];

    /// <inheritdoc/>
    public IHostMemory MapFile(string path, ulong size, bool readOnly = false)
    {
        if (size > int.MaxValue) throw new NotSupportedException($"FakeBarResources maps at most 2 GiB in memory, not 0x{size:x} bytes");
        return new ArrayHostMemory((int)size);
    }

    /// <inheritdoc/>
    public IHostMemory MapFd(int fd, long offset, ulong size, bool readOnly = false) =>
        FdMapper?.Invoke(fd, offset, size, readOnly)
        ?? throw new NotSupportedException("FakeBarResources maps no file descriptors (set FdMapper to a real mapping)");

    /// <summary>Maps (fd, offset, size, readOnly) for <see cref="MapFd"/>; null refuses file descriptors.</summary>
    public Func<int, long, ulong, bool, IHostMemory>? FdMapper { get; set; }

    /// <inheritdoc/>
    public IDisposable MapIntoBar(int barIndex, ulong offset, IHostMemory memory, bool readOnly = false)
    {
        var mapping = new BarMapping(this, barIndex, offset, memory, readOnly);
        lock (Mappings) Mappings.Add(mapping);
        return mapping;
    }

    internal void Remove(BarMapping mapping)
    {
        lock (Mappings) Mappings.Remove(mapping);
    }

    /// <inheritdoc/>
    public IIoEvent AddIoEvent(int barIndex, ulong offset, int length, ulong? dataMatch = null)
    {
        if (!SupportsIoEvents) throw new NotSupportedException("no ioeventfds here");
        var e = new ManualIoEvent(barIndex, offset, length, dataMatch);
        lock (IoEvents) IoEvents.Add(e);
        return e;
    }

    /// <summary>What KVM does on a guest write at BAR <paramref name="barIndex"/> + <paramref name="offset"/>: signals a matching ioeventfd. False when none matches (the write would exit to the device).</summary>
    public bool SignalWrite(int barIndex, ulong offset, ulong data = 0)
    {
        ManualIoEvent? hit;
        lock (IoEvents)
            hit = IoEvents.FirstOrDefault(e => !e.Disposed && e.BarIndex == barIndex && e.Offset == offset && (e.DataMatch is null || e.DataMatch == data));
        hit?.Signal();
        return hit is not null;
    }
}

/// <summary>
/// An eventfd stand-in: a counter with a blocking <see cref="Wait"/>. It has no descriptor (<see cref="Fd"/> is -1), so
/// a device cannot poll it (<see cref="Virtio.VirtioActivation.TakeDoorbell"/> gives such a doorbell to no device).
/// </summary>
public sealed class ManualIoEvent(int barIndex, ulong offset, int length, ulong? dataMatch) : IIoEvent
{
    private readonly SemaphoreSlim _signal = new(0);
    private long _counter;

    /// <summary>BAR the event was registered on.</summary>
    public int BarIndex { get; } = barIndex;

    /// <summary>Offset inside the BAR.</summary>
    public ulong Offset { get; } = offset;

    /// <summary>Access length (0: any).</summary>
    public int Length { get; } = length;

    /// <summary>Data match, if any.</summary>
    public ulong? DataMatch { get; } = dataMatch;

    /// <summary>True after Dispose.</summary>
    public bool Disposed { get; private set; }

    /// <inheritdoc/>
    public int Fd => -1;

    /// <summary>Adds one to the counter and wakes a waiter.</summary>
    public void Signal()
    {
        Interlocked.Increment(ref _counter);
        _signal.Release();
    }

    /// <inheritdoc/>
    public bool TryConsume(out ulong count)
    {
        count = (ulong)Interlocked.Exchange(ref _counter, 0);
        return count != 0;
    }

    /// <inheritdoc/>
    public bool Wait(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            if (TryConsume(out _)) return true;
            try
            {
                _signal.Wait(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }
        return false;
    }

    /// <inheritdoc/>
    public void Dispose() => Disposed = true;
}

/// <summary>Host memory backed by a byte array (what <see cref="FakeBarResources.MapFile"/> returns).</summary>
public sealed class ArrayHostMemory(int size) : IHostMemory
{
    /// <summary>The bytes.</summary>
    public byte[] Bytes { get; } = new byte[size];

    /// <summary>True after Dispose.</summary>
    public bool Disposed { get; private set; }

    /// <inheritdoc/>
    public ulong Size => (ulong)Bytes.Length;

    /// <inheritdoc/>
    public Span<byte> GetSpan(ulong offset, int length)
    {
        if (length < 0 || offset > Size || (ulong)length > Size - offset)
            throw new ArgumentOutOfRangeException(nameof(offset), $"[0x{offset:x}, +0x{length:x}) is outside 0x{Size:x} bytes");
        return Bytes.AsSpan((int)offset, length);
    }

    /// <inheritdoc/>
    public void Dispose() => Disposed = true;
}

/// <summary>A recorded <see cref="FakeBarResources.MapIntoBar"/>; disposing removes it.</summary>
public sealed class BarMapping : IDisposable
{
    private readonly FakeBarResources _owner;

    internal BarMapping(FakeBarResources owner, int barIndex, ulong offset, IHostMemory memory, bool readOnly)
    {
        _owner = owner;
        BarIndex = barIndex;
        Offset = offset;
        Memory = memory;
        ReadOnly = readOnly;
    }

    /// <summary>The BAR the memory appears in.</summary>
    public int BarIndex { get; }

    /// <summary>Offset inside the BAR.</summary>
    public ulong Offset { get; }

    /// <summary>The memory mapped.</summary>
    public IHostMemory Memory { get; }

    /// <summary>Mapped read-only.</summary>
    public bool ReadOnly { get; }

    /// <inheritdoc/>
    public void Dispose() => _owner.Remove(this);
}
