using Microsoft.Extensions.Logging;
using PluginVmm.Sdk.Virtio;

namespace PluginVmm.Plugins.VirtioNet;

// The I/O loop: one thread per activation serves both directions. In L1 of the nested sandbox the L2 vCPU, the TAP's
// peer (iperf3) and the VMM's I/O share two CPUs; a thread per direction made three runnable threads where QEMU has
// two, and the guest's vCPU waited for a CPU (its steal time was a second per 10 s higher than under QEMU).
public sealed partial class VirtioNetDevice
{
    // Chains served per turn before the loop looks at the other direction (QEMU's tx_burst is 256).
    private const int TxBudget = 256, RxBudget = 64;

    // How long the loop sleeps with nothing to do; a reset wakes it at once, and a receive side waiting for buffers
    // looks again after this even if the driver's notification never came.
    private const int IdleWaitMs = 100;

    private void IoLoop(VirtioActivation active, NetLoopWaiter waiter)
    {
        var rx = active.Queues[RxQueue];
        var tx = active.Queues[TxQueue];
        var receive = rx is null || _backend is null ? null : new RxState(rx, (active.Features & FeatureMrgRxbuf) != 0);
        // A budget ran out: work may be left, so the next wait only looks (does not sleep).
        bool txBusy = false, rxBusy = false;
        try
        {
            while (!_stopping)
            {
                // A frame the backend refused (here or in QueueNotified) waits for room: the TAP polled writable.
                bool txBlocked = _txPending is not null;
                var ready = waiter.Wait(includeBackend: receive is { WaitingForBuffers: false }, txBusy || rxBusy ? 0 : IdleWaitMs, waitWritable: txBlocked);
                bool txReady = txBlocked ? (ready & NetLoopWaiter.Ready.BackendWritable) != 0 : txBusy || (ready & NetLoopWaiter.Ready.TxDoorbell) != 0;
                if (tx is not null && txReady) txBusy = Transmit(active, tx, TxBudget) == TxOutcome.Budget;
                else txBusy = false;
                // Waiting for guest buffers, every wake-up (their doorbell, or the timeout) is a reason to look again.
                bool backendReady = receive is not null && (receive.WaitingForBuffers || (ready & NetLoopWaiter.Ready.Backend) != 0);
                if (receive is not null && (rxBusy || backendReady))
                    rxBusy = Receive(active, receive, RxBudget, backendReady) == RxOutcome.Budget;
                else rxBusy = false;
            }
        }
        catch (VirtqueueException e)
        {
            active.Fail(e.Message);
        }
        catch (Exception e) when (!_stopping)
        {
            _logger.LogWarning(e, "virtio-net: I/O stopped");
            active.Fail($"I/O failed: {e.Message}");
        }
        catch (Exception)
        {
            // Reset under way: the backend or a queue went away.
        }
        finally
        {
            if (receive?.Buffers is { } buffers) _rxUnusable += buffers.Unusable;
            _ioCpuMs += ThreadCpuMs();
        }
    }
}
