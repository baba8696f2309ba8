namespace PluginVmm.Sdk.Resources;

/// <summary>
/// An eventfd that the hypervisor signals when the guest writes at a fixed place in a BAR, without a VM exit
/// to the device (virtio queue notifications). The core keeps it at the same BAR offset when the BAR moves.
/// </summary>
public interface IIoEvent : IDisposable
{
    /// <summary>The eventfd (valid until disposed), for poll(2); -1 for a stand-in that has none (a test double).</summary>
    int Fd { get; }

    /// <summary>Reads and clears the counter; false when it was zero.</summary>
    bool TryConsume(out ulong count);

    /// <summary>
    /// Blocks until the eventfd is signalled, then reads and clears the counter (true), or until
    /// <paramref name="cancellationToken"/> is cancelled (false). For a device's queue thread.
    /// <para>
    /// The core's eventfds implement this with poll(2). This default, for implementations that do not (the SDK
    /// has no interop), checks the counter with a short sleep between attempts: it works, at up to a millisecond
    /// of added latency.
    /// </para>
    /// </summary>
    bool Wait(CancellationToken cancellationToken)
    {
        int idle = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            if (TryConsume(out _)) return true;
            if (++idle < 64) Thread.Yield();
            else cancellationToken.WaitHandle.WaitOne(1);
        }
        return false;
    }
}
