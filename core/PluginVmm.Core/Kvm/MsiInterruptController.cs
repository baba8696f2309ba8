using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PluginVmm.Sdk.Interrupts;

namespace PluginVmm.Core.Kvm;

/// <summary>
/// MSI/MSI-X vectors over KVM: one eventfd per vector, bound with KVM_IRQFD to a GSI whose MSI route holds the
/// guest's address/data while the vector is unmasked. Without an in-kernel irqchip or routing it degrades to
/// vectors that never fire (logged once).
/// </summary>
public sealed class MsiInterruptController(KvmVm vm, ILogger? logger = null) : IInterruptController
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private int _warned;

    internal KvmVm Vm => vm;

    internal bool Enabled
    {
        get
        {
            if (vm.SupportsMsiRouting) return true;
            if (Interlocked.Exchange(ref _warned, 1) == 0)
                _logger.LogWarning("KVM has no irqchip/irqfd/GSI routing here: MSI vectors will not be delivered");
            return false;
        }
    }

    internal ILogger Logger => _logger;

    /// <inheritdoc/>
    public IMsiVectorGroup CreateMsiGroup(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, 2048);  // MSI-X table maximum
        return new MsiVectorGroup(this, count);
    }
}
