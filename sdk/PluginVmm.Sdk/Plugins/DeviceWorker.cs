using Microsoft.Extensions.Logging;

namespace PluginVmm.Sdk.Plugins;

/// <summary>
/// The thread behind <see cref="IDeviceWorker"/>: runs the work, and turns an exception from it into a logged
/// fault handed to the owner (the core fences the device) instead of an unhandled exception, which .NET answers
/// by ending the whole process — every VM device with it.
/// </summary>
public sealed class DeviceWorker : IDeviceWorker
{
    /// <summary>How long Dispose waits for the work to notice its cancelled token.</summary>
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(5);

    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private volatile bool _running = true;

    private DeviceWorker(string deviceName, string name, Action<CancellationToken> work, ILogger logger, Action<string>? onFault)
    {
        Name = name;
        _thread = new Thread(() => Run(deviceName, work, logger, onFault)) { IsBackground = true, Name = $"{deviceName} {name}" };
    }

    /// <summary>
    /// Starts <paramref name="work"/> on a new background thread. If it throws, the exception is logged on
    /// <paramref name="logger"/> and <paramref name="onFault"/> receives a one-line reason; the thread then ends.
    /// </summary>
    public static DeviceWorker Start(string deviceName, string name, Action<CancellationToken> work, ILogger logger, Action<string>? onFault = null)
    {
        ArgumentNullException.ThrowIfNull(deviceName);
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(work);
        ArgumentNullException.ThrowIfNull(logger);
        var worker = new DeviceWorker(deviceName, name, work, logger, onFault);
        worker._thread.Start();
        return worker;
    }

    /// <inheritdoc/>
    public string Name { get; }

    /// <inheritdoc/>
    public bool IsRunning => _running;

    /// <inheritdoc/>
    public bool Join(TimeSpan timeout) => _thread.Join(timeout);

    /// <inheritdoc/>
    public void Dispose()
    {
        if (!_stop.IsCancellationRequested) _stop.Cancel();
        if (Thread.CurrentThread != _thread) _thread.Join(StopTimeout);
    }

    private void Run(string deviceName, Action<CancellationToken> work, ILogger logger, Action<string>? onFault)
    {
        try
        {
            work(_stop.Token);
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            // stopped on request
        }
        catch (Exception e)
        {
            string reason = $"worker '{Name}' threw {e.GetType().Name}: {e.Message}";
            logger.LogError(e, "{Device}: {Reason}", deviceName, reason);
            try
            {
                onFault?.Invoke(reason);
            }
            catch (Exception handlerFailure)
            {
                // the owner's fault handling must not turn into the unhandled exception this class exists to prevent
                logger.LogError(handlerFailure, "{Device}: handling the worker's fault failed", deviceName);
            }
        }
        finally
        {
            _running = false;
        }
    }
}
