namespace PluginVmm.Tests.Pci.Fakes;

/// <summary>Thrown by a recorder at an operation chosen by <see cref="FaultInjector"/>.</summary>
public sealed class InjectedFaultException(string operation) : Exception($"injected fault at {operation}");

/// <summary>
/// Counts the mutating operations of every recorder sharing it (bus map/unmap, memory slots, ioeventfds) and
/// makes chosen ones throw before they change anything, so a test can fail each step of a transaction in turn.
/// </summary>
public sealed class FaultInjector
{
    private readonly HashSet<int> _failAt = [];
    private readonly List<Predicate<string>> _predicates = [];

    /// <summary>Operations seen so far (failed ones included).</summary>
    public int Count { get; private set; }

    /// <summary>Every operation, in order.</summary>
    public List<string> Log { get; } = [];

    /// <summary>Makes operation number <paramref name="index"/> (0-based, counted from the start) throw.</summary>
    public void FailAt(int index) => _failAt.Add(index);

    /// <summary>Makes every operation whose description satisfies <paramref name="predicate"/> throw, until cleared.</summary>
    public void FailWhen(Predicate<string> predicate) => _predicates.Add(predicate);

    /// <summary>Clears the planned failures.</summary>
    public void Clear()
    {
        _failAt.Clear();
        _predicates.Clear();
    }

    /// <summary>Called by a recorder before it changes anything.</summary>
    public void Step(string operation)
    {
        int n = Count++;
        Log.Add(operation);
        if (_failAt.Remove(n) || _predicates.Any(p => p(operation))) throw new InjectedFaultException(operation);
    }
}
