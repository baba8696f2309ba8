using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PluginVmm.Core.Interop;
using PluginVmm.Core.Memory;

namespace PluginVmm.Core.Kvm;

/// <summary>
/// One KVM VM: memory slots, the in-kernel irqchip and PIT, ioeventfds, irqfds and the GSI routing table.
/// Thread-safe: slot, ioeventfd and routing changes may come from vCPU threads (BAR moves, MSI-X unmasks).
/// </summary>
public sealed class KvmVm : IDisposable
{
    /// <summary>First GSI handed out for MSI routes (0-23 are the IOAPIC/PIC pins).</summary>
    public const uint FirstMsiGsi = 24;

    private readonly FileDescriptor _fd;
    private readonly ILogger _logger;
    private readonly object _lock = new();
    private readonly SortedSet<int> _freeSlots = [];
    private int _nextSlot;
    private readonly Dictionary<uint, (ulong Address, uint Data)> _msiRoutes = [];
    private readonly SortedSet<uint> _freeGsis = [];
    private uint _nextGsi = FirstMsiGsi;

    internal KvmVm(KvmSystem system, ILogger? logger)
    {
        System = system;
        _logger = logger ?? NullLogger.Instance;
        int fd = KvmNative.Call(system.Handle, KvmIoctls.CreateVm, 0, "KVM_CREATE_VM");
        _fd = new FileDescriptor(fd);
        MaxMemorySlots = Math.Max(system.CheckExtension(KvmCap.NrMemslots), 32);
        MaxGsi = (uint)Math.Max(system.CheckExtension(KvmCap.IrqRouting), 0);
    }

    /// <summary>Creates a VM on <paramref name="system"/>.</summary>
    public static KvmVm Create(KvmSystem system, ILogger? logger = null) => new(system, logger);

    /// <summary>The /dev/kvm this VM came from.</summary>
    public KvmSystem System { get; }

    internal FileDescriptor Handle => _fd;

    /// <summary>KVM_CAP_NR_MEMSLOTS.</summary>
    public int MaxMemorySlots { get; }

    /// <summary>KVM_CAP_IRQ_ROUTING: number of GSIs routable (0: no routing).</summary>
    public uint MaxGsi { get; }

    /// <summary>True once the in-kernel IOAPIC/PIC/LAPIC exist (KVM_CREATE_IRQCHIP succeeded).</summary>
    public bool HasIrqchip { get; private set; }

    /// <summary>True once the in-kernel PIT exists.</summary>
    public bool HasPit { get; private set; }

    /// <summary>True when irqfd + GSI routing work (MSI delivery without a VM exit).</summary>
    public bool SupportsMsiRouting => HasIrqchip && MaxGsi > FirstMsiGsi && System.CheckExtension(KvmCap.Irqfd) > 0;

    /// <summary>
    /// x86 platform setup that must precede vCPU creation: TSS and identity-map pages (needed by VMX for real
    /// mode), the in-kernel irqchip and PIT. Each step that fails is logged and skipped: the VM degrades.
    /// </summary>
    public void SetupPlatform()
    {
        if (KvmNative.TryCall(_fd, KvmIoctls.SetTssAddr, unchecked((nint)MemoryLayout.KvmTssAddress), out int e) < 0)
            _logger.LogWarning("KVM_SET_TSS_ADDR failed (errno {Errno}); continuing", e);
        ulong idmap = MemoryLayout.KvmIdentityMapAddress;
        if (KvmNative.TryCall(_fd, KvmIoctls.SetIdentityMapAddr, ref idmap, out e) < 0)
            _logger.LogWarning("KVM_SET_IDENTITY_MAP_ADDR failed (errno {Errno}); continuing", e);
        if (KvmNative.TryCall(_fd, KvmIoctls.CreateIrqchip, 0, out e) < 0)
            _logger.LogWarning("KVM_CREATE_IRQCHIP failed (errno {Errno}): no in-kernel APIC/PIC, interrupts will not work", e);
        else HasIrqchip = true;
        if (HasIrqchip)
        {
            var pit = new KvmPitConfig { Flags = KvmPitConfig.SpeakerDummy };
            if (KvmNative.TryCall(_fd, KvmIoctls.CreatePit2, ref pit, out e) < 0)
                _logger.LogWarning("KVM_CREATE_PIT2 failed (errno {Errno}): no timer at ports 0x40-0x43", e);
            else HasPit = true;
        }
    }

    /// <summary>Maps host memory at <paramref name="guestAddress"/>; returns the slot id. Addresses and size must be page-aligned.</summary>
    public int AddMemorySlot(ulong guestAddress, ulong size, nint hostAddress, bool readOnly = false)
    {
        if (((guestAddress | size | (ulong)hostAddress) & 0xFFF) != 0 || size == 0)
            throw new ArgumentException($"memory slot 0x{guestAddress:x}+0x{size:x} (host 0x{hostAddress:x}) is not page-aligned or is empty");
        lock (_lock)
        {
            int slot = _freeSlots.Count > 0 ? _freeSlots.Min : _nextSlot;
            if (slot >= MaxMemorySlots) throw new InvalidOperationException($"all {MaxMemorySlots} KVM memory slots are in use");
            var region = new KvmUserspaceMemoryRegion
            {
                Slot = (uint)slot,
                Flags = readOnly ? KvmUserspaceMemoryRegion.FlagReadonly : 0,
                GuestPhysAddr = guestAddress,
                MemorySize = size,
                UserspaceAddr = (ulong)hostAddress,
            };
            KvmNative.Call(_fd, KvmIoctls.SetUserMemoryRegion, ref region, $"KVM_SET_USER_MEMORY_REGION slot {slot} at 0x{guestAddress:x}");
            if (!_freeSlots.Remove(slot)) _nextSlot++;
            return slot;
        }
    }

    /// <summary>Removes a slot made by <see cref="AddMemorySlot"/>.</summary>
    public void RemoveMemorySlot(int slot)
    {
        lock (_lock)
        {
            if (slot < 0 || slot >= _nextSlot || _freeSlots.Contains(slot)) throw new ArgumentException($"memory slot {slot} is not in use");
            var region = new KvmUserspaceMemoryRegion { Slot = (uint)slot };  // size 0 deletes
            KvmNative.Call(_fd, KvmIoctls.SetUserMemoryRegion, ref region, $"KVM_SET_USER_MEMORY_REGION delete slot {slot}");
            _freeSlots.Add(slot);
        }
    }

    /// <summary>Registers every region of <paramref name="memory"/> as a slot.</summary>
    public void AddGuestMemory(GuestMemory memory)
    {
        foreach (var r in memory.Regions) AddMemorySlot(r.GuestAddress, r.Size, r.HostAddress);
    }

    /// <summary>KVM_IOEVENTFD: signal <paramref name="eventFd"/> on guest writes of <paramref name="length"/> bytes (0 = any length) at <paramref name="address"/>.</summary>
    public void RegisterIoEvent(bool pio, ulong address, int length, ulong? dataMatch, EventFd eventFd) =>
        IoEvent(pio, address, length, dataMatch, eventFd, deassign: false);

    /// <summary>Undoes <see cref="RegisterIoEvent"/> with the same arguments.</summary>
    public void UnregisterIoEvent(bool pio, ulong address, int length, ulong? dataMatch, EventFd eventFd) =>
        IoEvent(pio, address, length, dataMatch, eventFd, deassign: true);

    private void IoEvent(bool pio, ulong address, int length, ulong? dataMatch, EventFd eventFd, bool deassign)
    {
        if (length is not (0 or 1 or 2 or 4 or 8)) throw new ArgumentOutOfRangeException(nameof(length), $"ioeventfd length {length} is not 0, 1, 2, 4 or 8");
        var io = new KvmIoeventfd
        {
            Addr = address,
            Len = (uint)length,
            Fd = eventFd.Fd,
            Datamatch = dataMatch ?? 0,
            Flags = (pio ? KvmIoeventfd.FlagPio : 0) | (dataMatch.HasValue ? KvmIoeventfd.FlagDatamatch : 0)
                    | (deassign ? KvmIoeventfd.FlagDeassign : 0),
        };
        KvmNative.Call(_fd, KvmIoctls.Ioeventfd, ref io, $"KVM_IOEVENTFD {(deassign ? "deassign" : "assign")} {(pio ? "pio" : "mmio")} 0x{address:x}");
    }

    /// <summary>KVM_IRQFD: a write to <paramref name="eventFd"/> raises <paramref name="gsi"/>.</summary>
    public void AddIrqfd(EventFd eventFd, uint gsi)
    {
        var irqfd = new KvmIrqfd { Fd = (uint)eventFd.Fd, Gsi = gsi };
        KvmNative.Call(_fd, KvmIoctls.Irqfd, ref irqfd, $"KVM_IRQFD gsi {gsi}");
    }

    /// <summary>Undoes <see cref="AddIrqfd"/>.</summary>
    public void RemoveIrqfd(EventFd eventFd, uint gsi)
    {
        var irqfd = new KvmIrqfd { Fd = (uint)eventFd.Fd, Gsi = gsi, Flags = KvmIrqfd.FlagDeassign };
        KvmNative.Call(_fd, KvmIoctls.Irqfd, ref irqfd, $"KVM_IRQFD deassign gsi {gsi}");
    }

    /// <summary>KVM_IRQ_LINE: sets an IOAPIC/PIC input (ISA IRQs are edge-triggered: raise then lower). False without an irqchip.</summary>
    public bool SetIrqLine(uint irq, bool level)
    {
        if (!HasIrqchip) return false;
        var l = new KvmIrqLevel { Irq = irq, Level = level ? 1u : 0u };
        return KvmNative.TryCall(_fd, KvmIoctls.IrqLine, ref l, out _) >= 0;
    }

    /// <summary>Reserves a GSI for an MSI route (no route installed yet).</summary>
    public uint AllocateMsiGsi()
    {
        lock (_lock)
        {
            if (_freeGsis.Count > 0) { uint g = _freeGsis.Min; _freeGsis.Remove(g); return g; }
            if (_nextGsi >= MaxGsi) throw new InvalidOperationException($"all {MaxGsi} KVM GSIs are in use");
            return _nextGsi++;
        }
    }

    /// <summary>Frees a GSI from <see cref="AllocateMsiGsi"/>, removing its route.</summary>
    public void FreeMsiGsi(uint gsi)
    {
        lock (_lock)
        {
            if (_msiRoutes.Remove(gsi)) CommitRoutesLocked();
            if (gsi >= FirstMsiGsi && gsi < _nextGsi) _freeGsis.Add(gsi);
        }
    }

    /// <summary>Installs or replaces the MSI route of <paramref name="gsi"/> and pushes the whole table to KVM.</summary>
    public void SetMsiRoute(uint gsi, ulong address, uint data)
    {
        lock (_lock)
        {
            _msiRoutes[gsi] = (address, data);
            CommitRoutesLocked();
        }
    }

    /// <summary>Removes the MSI route of <paramref name="gsi"/> (the GSI stays reserved).</summary>
    public void RemoveMsiRoute(uint gsi)
    {
        lock (_lock)
        {
            if (_msiRoutes.Remove(gsi)) CommitRoutesLocked();
        }
    }

    // KVM_SET_GSI_ROUTING replaces the whole table, so the default PIC/IOAPIC pin routes (which KVM_CREATE_IRQCHIP
    // installed and KVM_IRQ_LINE relies on) are re-sent with every MSI change.
    private void CommitRoutesLocked()
    {
        var entries = new List<KvmIrqRoutingEntry>();
        for (uint gsi = 0; gsi < 24; gsi++)
        {
            if (gsi < 16)
                entries.Add(new KvmIrqRoutingEntry
                {
                    Gsi = gsi, Type = KvmIrqRoutingEntry.TypeIrqchip,
                    IrqchipOrAddressLo = gsi < 8 ? KvmIrqRoutingEntry.IrqchipPicMaster : KvmIrqRoutingEntry.IrqchipPicSlave,
                    PinOrAddressHi = gsi % 8,
                });
            // Same as the kernel's default table (virt/kvm/irqchip: pin = gsi for every IOAPIC input).
            entries.Add(new KvmIrqRoutingEntry
            {
                Gsi = gsi, Type = KvmIrqRoutingEntry.TypeIrqchip,
                IrqchipOrAddressLo = KvmIrqRoutingEntry.IrqchipIoapic, PinOrAddressHi = gsi,
            });
        }
        foreach (var (gsi, (address, data)) in _msiRoutes)
            entries.Add(new KvmIrqRoutingEntry
            {
                Gsi = gsi, Type = KvmIrqRoutingEntry.TypeMsi,
                IrqchipOrAddressLo = (uint)address, PinOrAddressHi = (uint)(address >> 32), MsiData = data,
            });
        if (KvmNative.TrySetGsiRouting(_fd, [.. entries], out int errno) < 0)
            throw new ErrnoException("KVM_SET_GSI_ROUTING", errno);
    }

    /// <summary>Creates vCPU <paramref name="id"/>.</summary>
    public KvmVcpu CreateVcpu(int id) => new(this, id);

    /// <inheritdoc/>
    public void Dispose() => _fd.Dispose();
}
