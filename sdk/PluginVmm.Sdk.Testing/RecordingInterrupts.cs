using PluginVmm.Sdk.Interrupts;

namespace PluginVmm.Sdk.Testing;

/// <summary>An <see cref="IInterruptController"/> whose groups record routes and delivered interrupts.</summary>
public sealed class RecordingInterruptController : IInterruptController
{
    /// <summary>Every group created, in order.</summary>
    public List<RecordingMsiVectorGroup> Groups { get; } = [];

    /// <inheritdoc/>
    public IMsiVectorGroup CreateMsiGroup(int count)
    {
        var group = new RecordingMsiVectorGroup(count);
        lock (Groups) Groups.Add(group);
        return group;
    }
}

/// <summary>
/// MSI vectors that remember the last route pushed per vector (and every update) and count interrupts that
/// would reach the guest: a trigger of a vector whose route is masked or was never installed is dropped,
/// as KVM would drop it (the irqfd is not bound).
/// </summary>
public sealed class RecordingMsiVectorGroup(int count) : IMsiVectorGroup
{
    private readonly object _lock = new();
    private readonly int[] _delivered = new int[count];
    private readonly (MsiMessage Message, bool Masked)?[] _routes = new (MsiMessage, bool)?[count];

    /// <inheritdoc/>
    public int Count { get; } = count;

    /// <summary>Every Update call: (vector, message, masked).</summary>
    public List<(int Vector, MsiMessage Message, bool Masked)> Updates { get; } = [];

    /// <summary>True after Dispose.</summary>
    public bool Disposed { get; private set; }

    /// <summary>Raised (outside the lock) after each delivered interrupt, with the vector.</summary>
    public event Action<int>? Delivered;

    /// <summary>The current route of <paramref name="vector"/>; null when none was pushed.</summary>
    public (MsiMessage Message, bool Masked)? Route(int vector) { lock (_lock) return _routes[vector]; }

    /// <summary>Interrupts delivered on <paramref name="vector"/> so far.</summary>
    public int DeliveredCount(int vector) { lock (_lock) return _delivered[vector]; }

    /// <inheritdoc/>
    public void Update(int vector, MsiMessage message, bool masked)
    {
        if ((uint)vector >= (uint)Count) return;
        lock (_lock)
        {
            Updates.Add((vector, message, masked));
            _routes[vector] = (message, masked);
        }
    }

    /// <inheritdoc/>
    public void Trigger(int vector)
    {
        if ((uint)vector >= (uint)Count) return;
        lock (_lock)
        {
            if (_routes[vector] is not { Masked: false }) return;
            _delivered[vector]++;
            Monitor.PulseAll(_lock);
        }
        Delivered?.Invoke(vector);
    }

    /// <summary>Blocks until <paramref name="vector"/> has delivered more than <paramref name="seen"/> interrupts; false on timeout.</summary>
    public bool WaitForDelivery(int vector, int seen, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        lock (_lock)
        {
            while (_delivered[vector] <= seen)
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero) return false;
                Monitor.Wait(_lock, left);
            }
            return true;
        }
    }

    /// <inheritdoc/>
    public int? EventFd(int vector) => null;

    /// <inheritdoc/>
    public void Dispose() => Disposed = true;
}
