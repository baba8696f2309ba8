using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using PluginVmm.Sdk.Pci;

namespace PluginVmm.Core.Pci;

/// <summary>
/// PCI segment 0, bus 0: the host bridge at 00:00.0 and up to 31 devices (function 0 of slots 1-31), config
/// access through <see cref="ConfigIo"/> (0xCF8/0xCFC) and <see cref="Ecam"/>, BAR placement, and the BAR
/// relocation transaction (<see cref="BarRelocation"/>).
/// <para>
/// Wiring: create it with the layout and adapters over the buses and KVM; map <see cref="ConfigIo"/> at
/// <see cref="PciLayout.ConfigIoPorts"/> on the PIO bus and <see cref="Ecam"/> at
/// <see cref="PciLayout.EcamForSegment"/>(0) on the MMIO bus; for each device create its
/// <see cref="CreateBarResources">BarResources</see>, create the device with them, then <see cref="AddDevice"/>.
/// </para>
/// <para>
/// Absent slots and functions read all ones and ignore writes. A device that throws from any callback (other
/// than a MoveBar the transaction undoes), or whose config space disagrees with what the core maps after a move,
/// is <b>fenced</b>: its config space reads all ones, writes and BAR accesses are dropped, its BARs and resources
/// are unmapped (their address ranges stay reserved, so nothing is moved onto a range whose teardown may have been
/// incomplete), and an error names it. The VM keeps running.
/// </para>
/// Locking: one lock for the config path and setup (config accesses are rare), then the device's lock; the BAR
/// data path takes only the device's lock.
/// </summary>
public sealed class PciRoot
{
    /// <summary>Device slots available to devices (1..31; 0 is the host bridge).</summary>
    public const int MaxDevices = 31;

    /// <summary>
    /// Minimum alignment of initially placed 64-bit BARs: spreading them out makes it less likely that a guest
    /// rebalancing resources (Windows pci.sys, cloud-hypervisor #8202) picks an address another BAR holds.
    /// </summary>
    public const ulong Mmio64PlacementAlignment = 8UL << 20;

    private readonly object _lock = new();
    private readonly PciFunction?[] _slots = new PciFunction?[32];
    private readonly IBarMapper _mapper;
    private readonly IMemorySlotMapper _memorySlots;
    private readonly IIoEventRegistrar _ioEvents;
    private readonly ILogger _logger;
    private readonly BarRelocation _relocation;

    /// <summary>Creates the root over the given windows.</summary>
    public PciRoot(BarWindows windows, IBarMapper mapper, IMemorySlotMapper memorySlots, IIoEventRegistrar ioEvents, ILogger logger)
    {
        Windows = windows;
        _mapper = mapper;
        _memorySlots = memorySlots;
        _ioEvents = ioEvents;
        _logger = logger;
        _relocation = new BarRelocation(windows, mapper, logger, Fence);
        _slots[0] = new PciFunction(0, "host-bridge", new HostBridge(), null);
        ConfigIo = new PciConfigIoHandler(this);
        Ecam = new PciEcamHandler(this);
    }

    /// <summary>Creates the root with single-segment windows for <paramref name="layout"/>.</summary>
    public PciRoot(PciLayout layout, IBarMapper mapper, IMemorySlotMapper memorySlots, IIoEventRegistrar ioEvents, ILogger logger)
        : this(BarWindows.For(layout), mapper, memorySlots, ioEvents, logger)
    {
    }

    /// <summary>The allocators BARs live in.</summary>
    public BarWindows Windows { get; }

    /// <summary>Handler for ports 0xCF8-0xCFF (map at <see cref="PciLayout.ConfigIoPorts"/> on the PIO bus).</summary>
    public PciConfigIoHandler ConfigIo { get; }

    /// <summary>Handler for segment 0's ECAM (map at <see cref="PciLayout.EcamForSegment"/>(0) on the MMIO bus).</summary>
    public PciEcamHandler Ecam { get; }

    /// <summary>The resources object to give a device at creation (through its IDeviceContext).</summary>
    public BarResources CreateBarResources(string deviceName) => new(deviceName, _memorySlots, _ioEvents);

    /// <summary>
    /// Attaches <paramref name="device"/> at <paramref name="deviceNumber"/> (or the lowest free slot): checks its
    /// BAR specs, allocates each BAR naturally aligned in its window (64-bit BARs at least
    /// <see cref="Mmio64PlacementAlignment"/>-aligned), calls AssignBar, maps the BARs and their resources, and
    /// enables I/O and memory decoding in COMMAND as firmware would. Returns the device number. Throws
    /// <see cref="PciSetupException"/> (leaving nothing behind) when the device cannot be attached.
    /// <paramref name="plugin"/> (the plugin assembly's name) is named in every fault message about the device.
    /// </summary>
    public int AddDevice(string name, IPciDevice device, BarResources? resources = null, int? deviceNumber = null, string? plugin = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        lock (_lock)
        {
            int number = deviceNumber ?? Array.FindIndex(_slots, 1, s => s is null);
            if (number is < 1 or > MaxDevices) throw new PciSetupException($"{name}: no free PCI slot (1..{MaxDevices})" + (deviceNumber is null ? "" : $", asked for {deviceNumber}"));
            if (_slots[number] is not null) throw new PciSetupException($"{name}: PCI slot {number} is taken by {_slots[number]!.Name}");

            var specs = SnapshotSpecs(name, device);
            try
            {
                resources?.Attach(specs);
            }
            catch (ArgumentException e)
            {
                throw new PciSetupException(e.Message, e);
            }

            var fn = new PciFunction(number, name, device, resources, plugin);
            try
            {
                Place(fn, specs);
                EnableDecoding(fn, specs);
            }
            catch (Exception e)
            {
                TearDown(fn);
                throw e as PciSetupException ?? new PciSetupException($"{name}: {e.GetType().Name}: {e.Message}", e);
            }
            _slots[number] = fn;
            _logger.LogInformation("PCI 00:{Slot:x2}.0 {Device}: {Bars}", number, name,
                string.Join(", ", fn.BarRecords.Select(b => $"{b.Name} {b.Range}")));
            return number;
        }
    }

    /// <summary>Reads config dword <paramref name="register"/> of bus/device/function; all ones when absent or fenced.</summary>
    public uint ReadConfig(int bus, int device, int function, int register)
    {
        lock (_lock)
        {
            if (Lookup(bus, device, function, register) is not { } fn) return 0xFFFF_FFFF;
            lock (fn.Lock)
            {
                try
                {
                    return fn.Device.ReadConfigRegister(register);
                }
                catch (Exception e)
                {
                    Fence(fn, $"ReadConfigRegister({register}) threw {e.GetType().Name}: {e.Message}");
                    return 0xFFFF_FFFF;
                }
            }
        }
    }

    /// <summary>
    /// Writes 1, 2 or 4 bytes at byte <paramref name="offset"/> of a config dword and carries out any BAR move the
    /// device reports. Ignored when absent or fenced.
    /// </summary>
    public void WriteConfig(int bus, int device, int function, int register, int offset, ReadOnlySpan<byte> data)
    {
        if (data.Length is not (1 or 2 or 4) || offset < 0 || offset + data.Length > 4) return;
        lock (_lock)
        {
            if (Lookup(bus, device, function, register) is not { } fn) return;
            lock (fn.Lock)
            {
                IReadOnlyList<BarReprogrammingParams>? moves;
                try
                {
                    moves = fn.Device.WriteConfigRegister(register, offset, data);
                }
                catch (Exception e)
                {
                    Fence(fn, $"WriteConfigRegister({register}, {offset}, {data.Length} bytes) threw {e.GetType().Name}: {e.Message}");
                    return;
                }
                if (moves is { Count: > 0 }) _relocation.Apply(fn, moves);
                if (fn.Fenced) return;
                try
                {
                    fn.RefreshDecode();
                }
                catch (Exception e)
                {
                    Fence(fn, $"reading COMMAND threw {e.GetType().Name}: {e.Message}");
                }
            }
        }
    }

    /// <summary>True when the device in <paramref name="deviceNumber"/> has been fenced.</summary>
    public bool IsFenced(int deviceNumber)
    {
        lock (_lock) return Slot(deviceNumber).Fenced;
    }

    /// <summary>Where the core maps the BARs of the device in <paramref name="deviceNumber"/>.</summary>
    public IReadOnlyList<PciBarAssignment> GetBars(int deviceNumber)
    {
        lock (_lock)
            return Slot(deviceNumber).BarRecords.Select(b => new PciBarAssignment(b.Index, b.Spec.Kind, b.Base, b.Spec.Size, b.Allocator.Name)).ToList();
    }

    /// <summary>
    /// Every disagreement between the core's BAR records, the allocators, the bus mappings and the registered
    /// resources of live (unfenced) devices; empty when consistent. For tests and the fuzzer.
    /// </summary>
    public IReadOnlyList<string> CheckConsistency()
    {
        lock (_lock)
        {
            var problems = new List<string>();
            foreach (var fn in _slots)
            {
                if (fn is null || fn.Fenced) continue;
                foreach (var rec in fn.BarRecords)
                    if (BarRelocation.Inconsistency(fn, rec) is { } p) problems.Add($"{fn.Name}: {p}");
            }
            return problems;
        }
    }

    /// <summary>Fences the device in <paramref name="deviceNumber"/> (e.g. its worker thread failed).</summary>
    public void Fence(int deviceNumber, string reason)
    {
        lock (_lock) Fence(Slot(deviceNumber), reason);
    }

    /// <summary>Fencing requested from the BAR data path, after the device's lock was released.</summary>
    internal void FenceAfterFault(PciFunction fn, string reason)
    {
        fn.MarkFenced(); // stop further accesses at once; the teardown below takes the root lock
        lock (_lock) Fence(fn, reason, force: true);
    }

    private void Fence(PciFunction fn, string reason) => Fence(fn, reason, force: false);

    private void Fence(PciFunction fn, string reason, bool force)
    {
        if (fn.DeviceNumber == 0 || (fn.Fenced && !force)) return;
        bool tornDown = fn.BarRecords.All(b => b.Mapped is null);
        fn.MarkFenced();
        if (tornDown && force) return;
        var failures = new List<string>();
        foreach (var rec in fn.BarRecords)
        {
            if (rec.Mapped is not { } mapped) continue;
            try
            {
                _mapper.Unmap(rec.Space, mapped);
                rec.Mapped = null;
            }
            catch (Exception e)
            {
                failures.Add($"unmapping {rec.Name} {mapped}: {e.Message}");
            }
        }
        if (fn.Resources is { } resources)
            failures.AddRange(resources.WithdrawAll().Select(e => $"withdrawing a resource: {e.Message}"));
        _logger.LogError("PCI 00:{Slot:x2}.0 {Device} fenced: {Reason}. It no longer answers config or BAR accesses; its address ranges stay reserved.{Failures}",
            fn.DeviceNumber, fn.Label, reason, failures.Count == 0 ? "" : " Teardown problems: " + string.Join("; ", failures));
    }

    private PciFunction? Lookup(int bus, int device, int function, int register)
    {
        if (bus != 0 || function != 0 || (uint)device > 31 || (uint)register >= 1024) return null;
        return _slots[device] is { Fenced: false } fn ? fn : null;
    }

    private PciFunction Slot(int deviceNumber) =>
        (uint)deviceNumber < 32 && _slots[deviceNumber] is { } fn ? fn : throw new ArgumentOutOfRangeException(nameof(deviceNumber), $"no device in slot {deviceNumber}");

    private static PciBarSpec[] SnapshotSpecs(string name, IPciDevice device)
    {
        PciBarSpec[] specs;
        try
        {
            specs = [.. device.Bars];
        }
        catch (Exception e)
        {
            throw new PciSetupException($"{name}: reading its BARs threw {e.GetType().Name}: {e.Message}", e);
        }
        var used = new string?[PciBarIndex.Rom + 1];
        foreach (var spec in specs)
        {
            if (spec is null) throw new PciSetupException($"{name}: a BAR spec is null");
            if (spec.Validate() is { } error) throw new PciSetupException($"{name}: {PciBarIndex.Name(spec.Index)}: {error}");
            int last = spec.Kind == PciBarKind.Memory64 ? spec.Index + 1 : spec.Index;
            for (int slot = spec.Index; slot <= last; slot++)
            {
                if (used[slot] is { } other) throw new PciSetupException($"{name}: {PciBarIndex.Name(spec.Index)} uses BAR slot {slot}, already used by {other}");
                used[slot] = PciBarIndex.Name(spec.Index);
            }
        }
        return specs;
    }

    /// <summary>Allocates, assigns and maps every BAR; on failure leaves state in fn for <see cref="TearDown"/>.</summary>
    private void Place(PciFunction fn, PciBarSpec[] specs)
    {
        // Largest first: natural alignment then packs without holes.
        foreach (var spec in specs.OrderByDescending(s => s.Size).ThenBy(s => s.Index))
        {
            var allocator = Windows.InitialFor(spec.Kind);
            ulong alignment = spec.Kind == PciBarKind.Memory64 ? Math.Max(spec.Size, Mmio64PlacementAlignment) : spec.Size;
            var handler = new BarHandler(this, fn, spec.Index, spec.Size);
            var probe = new BarRecord(spec, 0, allocator, handler);
            var range = allocator.Allocate(spec.Size, alignment, BarRelocation.Owner(fn, probe))
                ?? throw new PciSetupException($"{fn.Name}: no room for {PciBarIndex.Name(spec.Index)} ({spec.Kind}, 0x{spec.Size:x} bytes) in {allocator.Name} {allocator.Window}");
            probe.Base = range.Start;
            fn.Bars[spec.Index] = probe;
        }
        foreach (var rec in fn.BarRecords)
        {
            try
            {
                fn.Device.AssignBar(rec.Index, rec.Base);
            }
            catch (Exception e)
            {
                throw new PciSetupException($"{fn.Name}: AssignBar({rec.Name}, 0x{rec.Base:x}) threw {e.GetType().Name}: {e.Message}", e);
            }
        }
        foreach (var rec in fn.BarRecords)
        {
            _mapper.Map(rec.Space, rec.Range, rec.Handler);
            rec.Mapped = rec.Range;
            fn.Resources?.Place(rec.Index, rec.Base);
        }
    }

    /// <summary>There is no firmware: turn on I/O and memory decoding as it would, then check the assignment stuck.</summary>
    private void EnableDecoding(PciFunction fn, PciBarSpec[] specs)
    {
        lock (fn.Lock)
        {
            ushort bits = 0;
            if (specs.Any(s => s.Kind == PciBarKind.Io)) bits |= 0x1;
            if (specs.Any(s => s.Kind != PciBarKind.Io)) bits |= 0x2;
            if (bits != 0)
            {
                ushort command = (ushort)(fn.Device.ReadConfigRegister(1) | bits);
                Span<byte> data = stackalloc byte[2];
                BinaryPrimitives.WriteUInt16LittleEndian(data, command);
                var moves = fn.Device.WriteConfigRegister(1, 0, data);
                if (moves is { Count: > 0 }) _relocation.Apply(fn, moves);
                if (fn.Fenced) throw new PciSetupException($"{fn.Name}: enabling decoding reported BAR moves that could not be carried out");
                if ((fn.Device.ReadConfigRegister(1) & bits) != bits)
                    throw new PciSetupException($"{fn.Name}: COMMAND does not keep the decode enable bits 0x{bits:x}");
            }
            foreach (var rec in fn.BarRecords)
            {
                ulong reported = fn.ReadBarAddressFromConfig(rec);
                if (reported != rec.Base)
                    throw new PciSetupException($"{fn.Name}: config space reports {rec.Name} at 0x{reported:x} after AssignBar(0x{rec.Base:x})");
            }
            fn.RefreshDecode();
        }
    }

    /// <summary>Undoes a partial <see cref="Place"/> (setup failed): unmap, withdraw, release.</summary>
    private void TearDown(PciFunction fn)
    {
        fn.MarkFenced();
        foreach (var rec in fn.BarRecords)
        {
            if (rec.Mapped is { } mapped)
            {
                try { _mapper.Unmap(rec.Space, mapped); } catch (Exception e) { _logger.LogError("{Device}: unmapping {Range} during setup rollback failed: {Error}", fn.Name, mapped, e.Message); }
                rec.Mapped = null;
            }
            rec.Allocator.Free(rec.Range);
        }
        fn.Resources?.WithdrawAll();
    }
}
