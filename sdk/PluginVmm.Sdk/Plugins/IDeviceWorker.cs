namespace PluginVmm.Sdk.Plugins;

/// <summary>
/// A device's own background thread, started with <see cref="IDeviceContext.StartWorker"/>. Dispose asks it to
/// stop (its token is cancelled) and waits a bounded time for it.
/// </summary>
public interface IDeviceWorker : IDisposable
{
    /// <summary>The name the worker was started with (also the thread's name, after the device's).</summary>
    string Name { get; }

    /// <summary>True until the work returned or threw.</summary>
    bool IsRunning { get; }

    /// <summary>
    /// Waits up to <paramref name="timeout"/> for the work to end; true when it has (by returning, by throwing — the
    /// fault is fully handled by then — or by being stopped).
    /// </summary>
    bool Join(TimeSpan timeout);
}
