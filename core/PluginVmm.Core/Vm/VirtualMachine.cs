using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PluginVmm.Core.Boot;
using PluginVmm.Core.Buses;
using PluginVmm.Core.Interop;
using PluginVmm.Core.Kvm;
using PluginVmm.Core.Memory;
using PluginVmm.Core.Platform;

namespace PluginVmm.Core.Vm;

/// <summary>
/// One VM: KVM VM, guest RAM, PIO/MMIO buses with the legacy platform devices (COM1, i8042, debug exit), vCPUs
/// and the MSI controller. Usage: <see cref="Create"/>, then register more handlers on <see cref="Pio"/> and
/// <see cref="Mmio"/> (PCI config space, BARs), then <see cref="Run"/> once, then Dispose.
/// </summary>
public sealed class VirtualMachine : IDisposable
{
    private readonly ILogger _logger;
    private readonly List<KvmVcpu> _vcpus = [];
    private readonly Serial8250 _serial;
    private readonly TaskCompletionSource<VmExit> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly int _panicExitCode;
    private BootPlan? _boot;
    private int _ran;

    private VirtualMachine(VmOptions options, ILoggerFactory loggerFactory)
    {
        _logger = loggerFactory.CreateLogger("vm");
        _panicExitCode = options.GuestPanicExitCode;
        Pio = new PioBus(loggerFactory.CreateLogger("pio"));
        Mmio = new MmioBus(loggerFactory.CreateLogger("mmio"));
        Kvm = KvmSystem.Open(options.KvmPath);
        Hosting.StartupTrace.Mark("/dev/kvm open");
        try
        {
            KvmVm = KvmVm.Create(Kvm, loggerFactory.CreateLogger("kvm"));
            KvmVm.SetupPlatform();
            Hosting.StartupTrace.Mark("KVM VM and platform (irqchip, PIT) created");
            Memory = GuestMemory.Create(options.MemoryBytes);
            KvmVm.AddGuestMemory(Memory);
            MemoryMap = E820Map.Build(Memory.Regions);
            Interrupts = new MsiInterruptController(KvmVm, loggerFactory.CreateLogger("msi"));

            _serial = new Serial8250(options.SerialOutput ?? Console.OpenStandardOutput(),
                KvmVm.HasIrqchip ? PulseIrq(Serial8250.Com1Irq) : null);
            Pio.Register(Serial8250.Com1Base, 8, _serial);
            Pio.Register(I8042.BasePort, 5, new I8042(() => RequestExit(new VmExit(VmExitReason.Reset, 0, "i8042 reset (0xFE)"))));
            Pio.Register(DebugExitPort.Port, 1, new DebugExitPort(v => RequestExit(VmExit.FromDebugExit(v))));
            Pio.Register(AcpiPowerPorts.BasePort, AcpiPowerPorts.Length, new AcpiPowerPorts(
                () => RequestExit(new VmExit(VmExitReason.PowerOff, 0, "ACPI S5 (power off)")),
                () => RequestExit(new VmExit(VmExitReason.Reset, 0, "ACPI reset register"))));
            foreach (var (b, len, value) in IgnoredPorts.Defaults) Pio.Register(b, len, new IgnoredPorts(value));

            Hosting.StartupTrace.Mark("guest RAM and platform devices");
            int vcpus = options.Vcpus;
            if (vcpus < 1) throw new ArgumentOutOfRangeException(nameof(options), "at least one vCPU is needed");
            if (vcpus > 1 && !KvmVm.HasIrqchip)
            {
                _logger.LogWarning("no in-kernel irqchip: running 1 vCPU instead of {Count} (APs cannot be started)", vcpus);
                vcpus = 1;
            }
            var cpuid = Kvm.GetSupportedCpuid();
            // the TSC-deadline timer lives in KVM's in-kernel LAPIC
            bool tscDeadline = KvmVm.HasIrqchip && Kvm.CheckExtension(KvmCap.TscDeadlineTimer) > 0;
            for (int i = 0; i < vcpus; i++)
            {
                var vcpu = KvmVm.CreateVcpu(i);
                _vcpus.Add(vcpu);
                vcpu.SetCpuid(cpuid, vcpus, tscDeadline);
            }

            Hosting.StartupTrace.Mark("vCPUs created");
            if (options.KernelPath is { } kernel) LoadKernel(kernel, options.InitramfsPath, options.Cmdline);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Creates the VM (opens /dev/kvm) and, when <see cref="VmOptions.KernelPath"/> is set, loads the kernel.</summary>
    public static VirtualMachine Create(VmOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new VirtualMachine(options, loggerFactory ?? NullLoggerFactory.Instance);
    }

    /// <summary>/dev/kvm.</summary>
    public KvmSystem Kvm { get; }

    /// <summary>The KVM VM: memory slots, ioeventfds, irqfds, IRQ lines.</summary>
    public KvmVm KvmVm { get; } = null!;

    /// <summary>Guest RAM.</summary>
    public GuestMemory Memory { get; } = null!;

    /// <summary>The guest memory map given to the kernel.</summary>
    public IReadOnlyList<E820Entry> MemoryMap { get; } = [];

    /// <summary>I/O ports. COM1 (0x3F8-0x3FF), i8042 (0x60-0x64), 0xF4 and a few legacy ports are taken.</summary>
    public PioBus Pio { get; }

    /// <summary>MMIO outside RAM (PCI ECAM window, BARs).</summary>
    public MmioBus Mmio { get; }

    /// <summary>MSI vectors over irqfd + GSI routing.</summary>
    public MsiInterruptController Interrupts { get; } = null!;

    /// <summary>The vCPUs (index = APIC id).</summary>
    public IReadOnlyList<KvmVcpu> Vcpus => _vcpus;

    /// <summary>How the boot vCPU will start (null until a kernel is loaded).</summary>
    public BootPlan? Boot => _boot;

    /// <summary>
    /// Loads a kernel (PVH ELF or bzImage) and sets the boot vCPU's entry state. <paramref name="acpiRsdp"/> is the
    /// RSDP address of ACPI tables already in guest memory, or 0.
    /// </summary>
    public void LoadKernel(string kernelPath, string? initramfsPath, string cmdline, ulong acpiRsdp = 0)
    {
        using var kernel = ReadOnlyFileImage.Open(kernelPath);
        using var initramfs = initramfsPath is null ? null : ReadOnlyFileImage.Open(initramfsPath);
        _boot = KernelLoader.Load(Memory, kernel.Span, cmdline, initramfs is null ? [] : initramfs.Span, MemoryMap, acpiRsdp);
        _logger.LogInformation("loaded {Kernel} ({Protocol}), entry 0x{Rip:x}", kernelPath, _boot.Protocol, _boot.Entry.Rip);
        ApplyBootState(_vcpus[0], _boot);
    }

    /// <summary>Sets a vCPU to the 32-bit protected-mode entry state of <paramref name="plan"/>.</summary>
    public static void ApplyBootState(KvmVcpu vcpu, BootPlan plan)
    {
        var e = plan.Entry;
        var s = vcpu.GetSregs();
        s.Cs = Segment(e.Code);
        s.Ds = s.Es = s.Fs = s.Gs = s.Ss = Segment(e.Data);
        s.Tr = Segment(e.Tss);
        s.Gdt = new KvmDtable { Base = e.GdtBase, Limit = e.GdtLimit };
        s.Idt = new KvmDtable { Base = e.IdtBase, Limit = e.IdtLimit };
        s.Cr0 = e.Cr0;
        s.Cr3 = e.Cr3;
        s.Cr4 = e.Cr4;
        s.Efer = e.Efer;
        vcpu.SetSregs(s);
        vcpu.SetRegs(new KvmRegs { Rip = e.Rip, Rsi = e.Rsi, Rsp = e.Rsp, Rbx = plan.Rbx, Rflags = e.Rflags });
    }

    private static KvmSegment Segment(LinuxSegment s) => new()
    {
        Base = s.Base, Limit = s.Limit, Selector = s.Selector, Type = s.Type, Present = B(s.Present), Dpl = s.Dpl,
        Db = B(s.Db), S = B(s.S), L = B(s.L), G = B(s.G),
    };

    private static byte B(bool v) => v ? (byte)1 : (byte)0;

    private Action<bool> PulseIrq(uint irq) => _ =>
    {
        KvmVm.SetIrqLine(irq, true);
        KvmVm.SetIrqLine(irq, false);
    };

    /// <summary>Ends the VM (first request wins). Safe from any thread, including device handlers on vCPU threads.</summary>
    public void RequestExit(VmExit exit)
    {
        if (_exit.TrySetResult(exit)) _logger.LogInformation("VM exit: {Exit}", exit);
    }

    /// <summary>The guest reported a panic: ends the VM with the configured panic exit code.</summary>
    public void ReportGuestPanic(string device, string detail) =>
        RequestExit(new VmExit(VmExitReason.GuestPanic, _panicExitCode, $"{device}: {detail}"));

    /// <summary>Runs every vCPU until the VM ends (or <paramref name="cancellationToken"/> fires); once per VM.</summary>
    public VmExit Run(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _ran, 1) != 0) throw new InvalidOperationException("a VM runs only once");
        var runners = _vcpus.Select(v => new VcpuRunner(v, Pio, Mmio, RequestExit, () => _exit.Task.IsCompleted, _logger)).ToList();
        using var reg = cancellationToken.Register(() => RequestExit(new VmExit(VmExitReason.Stopped, 0, "stopped by the host")));
        try
        {
            foreach (var r in runners) r.Start();
        }
        catch (Exception e)
        {
            RequestExit(VmExit.Fatal($"starting vCPU threads: {e.Message}"));
        }
        Hosting.StartupTrace.Mark("vCPU threads started");
        var exit = _exit.Task.GetAwaiter().GetResult();
        Hosting.StartupTrace.Mark("exit requested");
        foreach (var r in runners) r.Stop();
        foreach (var r in runners)
        {
            // A vCPU stuck in the kernel is kicked repeatedly; after that it is left as a background thread.
            for (int i = 0; i < 50 && !r.Join(TimeSpan.FromMilliseconds(100)); i++) r.Stop();
        }
        _serial?.Flush();
        Hosting.StartupTrace.Mark("vCPU threads joined");
        // Debug only: /proc/self/smaps walks the page tables of every mapping, guest RAM's included (tens of ms for a
        // large guest), which an ordinary exit should not pay.
        if (_logger.IsEnabled(LogLevel.Debug) && Memory.HugePageBytes() is { } huge)
            _logger.LogDebug("guest RAM: {Huge} of {Total} MiB in huge pages", huge >> 20, Memory.TotalBytes >> 20);
        return exit;
    }

    /// <summary>Closes the vCPUs, the VM and guest RAM. Call after <see cref="Run"/> returned.</summary>
    public void Dispose()
    {
        foreach (var v in _vcpus) v.Dispose();
        _vcpus.Clear();
        KvmVm?.Dispose();
        Memory?.Dispose();
        Kvm?.Dispose();
    }
}
