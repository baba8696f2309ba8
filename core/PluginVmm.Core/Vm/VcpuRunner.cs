using Microsoft.Extensions.Logging;
using PluginVmm.Core.Buses;
using PluginVmm.Core.Interop;
using PluginVmm.Core.Kvm;

namespace PluginVmm.Core.Vm;

/// <summary>
/// The KVM_RUN loop of one vCPU on its own thread: IO exits go to the PIO bus, MMIO exits to the MMIO bus,
/// everything that ends the guest goes to <c>requestExit</c>. EINTR (a kick) just re-checks the stop flag.
/// </summary>
internal sealed class VcpuRunner
{
    private readonly KvmVcpu _vcpu;
    private readonly PioBus _pio;
    private readonly MmioBus _mmio;
    private readonly Action<VmExit> _requestExit;
    private readonly ILogger _logger;
    private readonly Thread _thread;
    private readonly ManualResetEventSlim _bound = new();
    private volatile bool _stop;

    // Exits that reached this loop, by kind and port / MMIO address: logged when the vCPU stops, so a slow guest
    // shows where it leaves KVM (one dictionary update per exit, nothing next to the cost of the exit itself).
    private readonly Dictionary<(KvmExitReason Reason, ulong Address), long> _exitCounts = [];

    private readonly Func<bool> _vmEnding;

    /// <param name="vmEnding">True once any thread asked the VM to end (a device reporting a panic on this very
    /// vCPU, say): the loop then stops before running more guest instructions.</param>
    public VcpuRunner(KvmVcpu vcpu, PioBus pio, MmioBus mmio, Action<VmExit> requestExit, Func<bool> vmEnding, ILogger logger)
    {
        _vmEnding = vmEnding;
        _vcpu = vcpu;
        _pio = pio;
        _mmio = mmio;
        _requestExit = requestExit;
        _logger = logger;
        _thread = new Thread(Loop) { Name = $"vcpu{vcpu.Id}", IsBackground = true };
    }

    public void Start()
    {
        _thread.Start();
        _bound.Wait();  // a kick before the thread blocks the signal would kill the process
    }

    public void Stop()
    {
        _stop = true;
        try { _vcpu.Kick(); }
        catch (ErrnoException e) { _logger.LogDebug(e, "kicking vCPU {Id}", _vcpu.Id); }
    }

    public bool Join(TimeSpan timeout) => _thread.Join(timeout);

    private void Loop()
    {
        try
        {
            if (!_vcpu.BindToCurrentThread())
                _logger.LogWarning("vCPU {Id}: KVM_SET_SIGNAL_MASK refused; stopping a halted vCPU may be slow", _vcpu.Id);
        }
        finally
        {
            _bound.Set();
        }
        try
        {
            while (!_stop && !_vmEnding())
            {
                var reason = _vcpu.RunOnce();
                if (reason is null) continue;  // interrupted: re-check _stop
                CountExit(reason.Value);
                var exit = Handle(reason.Value);
                if (exit is not null)
                {
                    _requestExit(exit);
                    return;
                }
            }
        }
        catch (Exception e)
        {
            _requestExit(VmExit.Fatal($"vCPU {_vcpu.Id}: {e.Message}"));
            _logger.LogError(e, "vCPU {Id} failed", _vcpu.Id);
        }
        finally
        {
            LogExitProfile();
        }
    }

    private void CountExit(KvmExitReason reason)
    {
        var run = _vcpu.RunState;
        ulong address = reason switch
        {
            KvmExitReason.Io => run.IoPort,
            KvmExitReason.Mmio => run.MmioAddress,
            _ => 0,
        };
        var key = (reason, address);
        _exitCounts[key] = _exitCounts.GetValueOrDefault(key) + 1;
    }

    private void LogExitProfile()
    {
        if (_exitCounts.Count == 0 || !_logger.IsEnabled(LogLevel.Information)) return;
        long total = _exitCounts.Values.Sum();
        var top = _exitCounts.OrderByDescending(kv => kv.Value).Take(8)
            .Select(kv => kv.Key.Reason is KvmExitReason.Io or KvmExitReason.Mmio
                ? $"{kv.Key.Reason} 0x{kv.Key.Address:x}: {kv.Value}"
                : $"{kv.Key.Reason}: {kv.Value}");
        _logger.LogInformation("vCPU {Id}: {Total} exits to the VMM; most: {Top}", _vcpu.Id, total, string.Join(", ", top));
    }

    // Returns null to keep running, or how the VM ends.
    private VmExit? Handle(KvmExitReason reason)
    {
        var run = _vcpu.RunState;
        switch (reason)
        {
            case KvmExitReason.Io:
            {
                var data = run.IoData;
                int size = run.IoSize;
                for (int i = 0; i < run.IoCount; i++)
                {
                    var slice = data.Slice(i * size, size);
                    if (run.IoIsWrite) _pio.Write(run.IoPort, slice);
                    else _pio.Read(run.IoPort, slice);
                }
                return null;
            }
            case KvmExitReason.Mmio:
                if (run.MmioIsWrite) _mmio.Write(run.MmioAddress, run.MmioData);
                else _mmio.Read(run.MmioAddress, run.MmioData);
                return null;
            case KvmExitReason.Intr:
            case KvmExitReason.IrqWindowOpen:
                return null;
            case KvmExitReason.Hlt:
                return new VmExit(VmExitReason.Halted, 0, $"vCPU {_vcpu.Id} halted with no interrupt source (no in-kernel irqchip)");
            case KvmExitReason.Shutdown:
                return new VmExit(VmExitReason.TripleFault, 0, $"vCPU {_vcpu.Id} triple fault (KVM_EXIT_SHUTDOWN)");
            case KvmExitReason.SystemEvent:
                return run.SystemEventType switch
                {
                    1 => new VmExit(VmExitReason.PowerOff, 0, "KVM system event: shutdown"),
                    2 => new VmExit(VmExitReason.Reset, 0, "KVM system event: reset"),
                    3 => new VmExit(VmExitReason.GuestPanic, VmExit.DefaultPanicExitCode, "KVM system event: crash"),
                    var t => VmExit.Fatal($"KVM system event {t}"),
                };
            case KvmExitReason.InternalError:
                return VmExit.Fatal($"vCPU {_vcpu.Id}: KVM internal error, suberror {run.InternalSuberror} at rip 0x{SafeRip():x}");
            case KvmExitReason.FailEntry:
                return VmExit.Fatal($"vCPU {_vcpu.Id}: VM entry failed, hardware reason 0x{run.FailEntryReason:x}");
            default:
                return VmExit.Fatal($"vCPU {_vcpu.Id}: unhandled KVM exit {reason} ({(uint)reason}) at rip 0x{SafeRip():x}");
        }
    }

    private ulong SafeRip()
    {
        try { return _vcpu.GetRegs().Rip; } catch (ErrnoException) { return 0; }
    }
}
