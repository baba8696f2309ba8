using PluginVmm.Sdk.Resources;

namespace PluginVmm.Sdk.Testing;

/// <summary>
/// <see cref="IBarResources"/> without KVM: ioeventfds are <see cref="ManualIoEvent"/>s that a test signals the way
/// KVM would on a guest write (<see cref="SignalWrite"/>); memory mapping is not supported.
/// </summary>
public sealed class FakeBarResources : IBarResources
{
    private int _nextFd = 1000;

    /// <summary>When false, <see cref="AddIoEvent"/> throws (a platform without ioeventfds).</summary>
    public bool SupportsIoEvents { get; set; } = true;

    /// <summary>Registered ioeventfds.</summary>
    public List<ManualIoEvent> IoEvents { get; } = [];

    /// <inheritdoc/>
    public IHostMemory MapFile(string path, ulong size, bool readOnly = false) => throw new NotSupportedException("FakeBarResources maps no memory");

    /// <inheritdoc/>
    public IHostMemory MapFd(int fd, long offset, ulong size, bool readOnly = false) => throw new NotSupportedException("FakeBarResources maps no memory");

    /// <inheritdoc/>
    public IDisposable MapIntoBar(int barIndex, ulong offset, IHostMemory memory, bool readOnly = false) => throw new NotSupportedException("FakeBarResources maps no memory");

    /// <inheritdoc/>
    public IIoEvent AddIoEvent(int barIndex, ulong offset, int length, ulong? dataMatch = null)
    {
        if (!SupportsIoEvents) throw new NotSupportedException("no ioeventfds here");
        var e = new ManualIoEvent(_nextFd++, barIndex, offset, length, dataMatch);
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

/// <summary>An eventfd stand-in: a counter with a blocking <see cref="Wait"/>.</summary>
public sealed class ManualIoEvent(int fd, int barIndex, ulong offset, int length, ulong? dataMatch) : IIoEvent
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
    public int Fd { get; } = fd;

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
