using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using PluginVmm.Sdk.Interrupts;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Plugins;
using PluginVmm.Sdk.Resources;

namespace PluginVmm.Plugins.Vfio;

/// <summary>
/// The guest-visible function of a passed-through host device.
/// <list type="bullet">
/// <item>Config space: forwarded to the host function through VFIO's config region, except the BARs and the ROM BAR
/// (shadowed in our <see cref="PciConfiguration"/>, so the core's relocation and rollback apply unchanged), the
/// COMMAND register's low half (shadowed too, because it decides when moves happen, and also forwarded so the
/// device decodes and masters), and the MSI-X Message Control / MSI capability (emulated: they decide our vectors).</item>
/// <item>BARs: the mmap-able parts are memory slots (the core moves them with the BAR); the rest, and the pages of the
/// MSI-X table and PBA, trap here: table and PBA are the SDK's <see cref="MsixTable"/>, other accesses go to the
/// region with pread/pwrite.</item>
/// <item>Interrupts: MSI-X (or MSI) vectors of a <see cref="IMsiVectorGroup"/>; their eventfds are handed to
/// VFIO_DEVICE_SET_IRQS, so the device's interrupts reach KVM's irqfds without passing through this process.</item>
/// </list>
/// A host error at run time (a failed pread/pwrite or SET_IRQS) fences the device here: it logs once, withdraws its
/// memory slots and interrupts, reads all ones and drops writes. Nothing guest-driven throws out of it.
/// </summary>
internal sealed class VfioDevice : PciDevice, IDisposable
{
    private const int CommandRegister = 1, FirstBar = 4, RomRegister = 12;

    private readonly IVfioFunction _function;
    private readonly ILogger _logger;
    private readonly string _name;
    private readonly VfioRegion _config;
    private readonly VfioMsixLayout? _msixLayout;
    private readonly MsixTable? _msix;
    private readonly IMsiVectorGroup? _msixGroup;
    private readonly VfioMsiCapability? _msi;
    private readonly IMsiVectorGroup? _msiGroup;
    private readonly IBarResources _barResources;
    private readonly List<(int Bar, ulong Offset, IHostMemory Memory)> _windows = [];
    private readonly List<IDisposable> _slots = [];
    private bool _slotsMapped;
    private ushort _msixControl;          // Enable and Function Mask as the guest wrote them
    private bool _msixWired, _msiWired;
    private int _msiWiredCount;
    private bool _fenced;

    public VfioDevice(IDeviceContext context, IVfioFunction function) : base(BuildConfiguration(function, out byte[] host))
    {
        _function = function;
        _logger = context.Logger;
        _name = context.Name;
        _barResources = context.BarResources;
        _config = function.Region(VfioRegion.Config);
        _msixLayout = VfioCapabilities.Msix(host);
        if (_msixLayout is { } x && function.IrqCount(VfioIrq.Msix) > 0 && Configuration.Bars.Any(b => b.Index == x.TableBar) &&
            Configuration.Bars.Any(b => b.Index == x.PbaBar))
        {
            int vectors = Math.Min(x.Vectors, function.IrqCount(VfioIrq.Msix));
            _msixGroup = context.Interrupts.CreateMsiGroup(vectors);
            _msix = new MsixTable(vectors, _msixGroup);
        }
        else
        {
            _msixLayout = null;
        }
        if (VfioCapabilities.Msi(host) is { } msi && function.IrqCount(VfioIrq.Msi) > 0)
        {
            _msi = new VfioMsiCapability(msi, host.AsSpan(msi.CapabilityOffset));
            _msiGroup = context.Interrupts.CreateMsiGroup(Math.Min(msi.Vectors, function.IrqCount(VfioIrq.Msi)));
        }
        try
        {
            MapBars(context);
        }
        catch
        {
            foreach (var (_, _, memory) in _windows) memory.Dispose();
            throw;
        }
    }

    /// <summary>The MSI-X layout of the host function when we emulate its table (for tests and logs).</summary>
    public VfioMsixLayout? MsixLayout => _msixLayout;

    /// <summary>True once a host error fenced the device.</summary>
    public bool Fenced => _fenced;

    private static PciConfiguration BuildConfiguration(IVfioFunction function, out byte[] host)
    {
        byte[] h = host = new byte[256];
        if (!function.Read(function.Region(VfioRegion.Config), 0, h))
            throw new VfioSetupException($"{function.Address}: reading config space through VFIO failed");
        ushort U16(int o) => BinaryPrimitives.ReadUInt16LittleEndian(h.AsSpan(o));
        var config = new PciConfiguration(U16(0), U16(2), classCode: host[0x0B], subclass: host[0x0A], progIf: host[0x09],
            revision: host[0x08], subsystemVendorId: U16(0x2C), subsystemId: U16(0x2E), interruptPin: host[0x3D]);
        Span<uint> bars = stackalloc uint[6];
        for (int i = 0; i < 6; i++) bars[i] = BinaryPrimitives.ReadUInt32LittleEndian(host.AsSpan(0x10 + 4 * i));
        foreach (var spec in VfioBarLayout.Probe(function.Region, bars, function.Address)) config.AddBar(spec);
        return config;
    }

    // mmap()s the mmap-able parts of each memory BAR, keeping the MSI-X table and PBA pages out. They become memory
    // slots only while the guest has memory decoding on (UpdateSlots).
    private void MapBars(IDeviceContext context)
    {
        foreach (var bar in Configuration.Bars)
        {
            if (bar.Kind is PciBarKind.Io or PciBarKind.Rom) continue;
            var region = _function.Region(bar.Index);
            var trapped = _msixLayout?.RangesIn(bar.Index) ?? [];
            foreach (var w in VfioBarLayout.MappedWindows(region, trapped))
                _windows.Add((bar.Index, w.Offset, context.BarResources.MapFd(_function.DeviceFd, region.Offset + (long)w.Offset, w.Size)));
        }
    }

    // vfio-pci makes the BAR mmaps fault (SIGBUS) while the host function's memory decoding is off, and KVM would
    // fail the vCPU on such a fault; so the slots exist only while decoding is on. With it off, the core does not
    // pass BAR accesses to the device either: the guest reads all ones, as from real hardware.
    private void UpdateSlots()
    {
        bool want = Configuration.MemoryDecodeEnabled;
        if (want == _slotsMapped) return;
        if (!want)
        {
            foreach (var slot in _slots) TryDispose(slot);
            _slots.Clear();
            _slotsMapped = false;
            return;
        }
        try
        {
            foreach (var (bar, offset, memory) in _windows) _slots.Add(_barResources.MapIntoBar(bar, offset, memory));
            _slotsMapped = true;
        }
        catch (Exception e)
        {
            Fence($"memory slot set-up ({e.Message})");
        }
    }

    /// <inheritdoc/>
    public override uint ReadConfigRegister(int register)
    {
        if (_fenced || (uint)register >= PciConfiguration.RegisterCount) return 0xFFFF_FFFF;
        if (register is >= FirstBar and < FirstBar + 6 or RomRegister) return Configuration.Read(register);
        uint host = ReadHostConfig(register);
        if (_fenced) return 0xFFFF_FFFF;
        if (register == CommandRegister) return (host & 0xFFFF_0000) | Configuration.Command;
        if (_msixLayout is { } x && register == x.CapabilityOffset / 4)
            // Enable/Mask ours, and the table size of the table we emulate (at most the host's), so the guest never
            // programs an entry whose writes would fall through to the host table
            return (host & 0x0000_FFFF) | (uint)Math.Max(_msix!.Count - 1, 0) << 16 | (uint)_msixControl << 16;
        if (_msi is { } msi && msi.Covers(register)) return msi.Read(register, host);
        return host;
    }

    /// <inheritdoc/>
    protected override void OnConfigWritten(int register, int offset, ReadOnlySpan<byte> data)
    {
        // the same well-formedness PciConfiguration.Write demands: what it dropped must not reach the host either
        if (_fenced || (uint)register >= PciConfiguration.RegisterCount || data.Length is not (1 or 2 or 4)
            || offset < 0 || offset + data.Length > 4 || offset % data.Length != 0) return;
        if (register is >= FirstBar and < FirstBar + 6 or RomRegister) return;   // shadowed: the core moves BARs
        if (_msixLayout is { } x && register == x.CapabilityOffset / 4)
        {
            WriteMsixControl(offset, data);
            return;
        }
        if (_msi is { } msi && msi.Covers(register))
        {
            msi.Write(register, offset, data);
            SyncMsi();
            return;
        }
        if ((ulong)register * 4 + 4 > _config.Size) return;   // beyond the host's config space: dropped, as a read gives 0
        // Decoding going off: the slots go before the host stops decoding (its mmaps fault from then on); going on,
        // after (UpdateSlots below).
        if (register == CommandRegister && !Configuration.MemoryDecodeEnabled) UpdateSlots();
        if (!_function.Write(_config, (ulong)(register * 4 + offset), data))
            Fence($"config write at 0x{register * 4 + offset:x}");
        else if (register == CommandRegister) UpdateSlots();
    }

    private void WriteMsixControl(int offset, ReadOnlySpan<byte> data)
    {
        // bytes 2..3 of the capability's first dword are Message Control; only Enable (15) and Function Mask (14) are ours
        for (int i = 0; i < data.Length; i++)
        {
            int b = offset + i;
            if (b == 3) _msixControl = (ushort)((data[i] << 8) & 0xC000);
        }
        _msix!.SetMessageControl(_msixControl);
        bool enable = (_msixControl & MsixTable.ControlEnable) != 0;
        if (enable && _msiWired)
        {
            // vfio-pci takes one interrupt type at a time; a driver enabling both gets the first (spec: undefined)
            _logger.LogWarning("{Device}: guest enabled MSI-X while MSI is on; MSI-X not wired", _name);
            return;
        }
        if (enable != _msixWired) Wire(VfioIrq.Msix, _msixGroup!, enable ? _msix.Count : 0, ref _msixWired);
    }

    private void SyncMsi()
    {
        var msi = _msi!;
        int enabled = msi.Enabled ? Math.Min(msi.EnabledVectors, _msiGroup!.Count) : 0;
        for (int v = 0; v < _msiGroup!.Count; v++)
            _msiGroup.Update(v, msi.Message(v), masked: v >= enabled || msi.IsMasked(v));
        if (enabled == _msiWiredCount) return;
        if (enabled > 0 && _msixWired)
        {
            _logger.LogWarning("{Device}: guest enabled MSI while MSI-X is on; MSI not wired", _name);
            return;
        }
        // a new vector count needs the old set disabled first (VFIO_DEVICE_SET_IRQS cannot grow an enabled set)
        if (_msiWired && enabled > 0) Wire(VfioIrq.Msi, _msiGroup, 0, ref _msiWired);
        if (!_fenced) Wire(VfioIrq.Msi, _msiGroup, enabled, ref _msiWired);
        _msiWiredCount = _msiWired ? enabled : 0;
    }

    // Hands the group's eventfds to VFIO (count > 0) or disables the host interrupts (0).
    private void Wire(int irqIndex, IMsiVectorGroup group, int count, ref bool wired)
    {
        var fds = new List<int>();
        for (int v = 0; v < count; v++)
        {
            if (group.EventFd(v) is not { } fd)
            {
                _logger.LogWarning("{Device}: the interrupt controller has no eventfds; host interrupts of {Host} are not delivered", _name, _function.Address);
                return;
            }
            fds.Add(fd);
        }
        if (!_function.SetIrqEventFds(irqIndex, fds))
        {
            Fence($"VFIO_DEVICE_SET_IRQS (index {irqIndex}, {count} vectors)");
            return;
        }
        wired = count > 0;
    }

    /// <inheritdoc/>
    public override void ReadBar(int index, ulong offset, Span<byte> data)
    {
        if (!_fenced)
        {
            if (_msix is not null && MsixPart(index, offset, data.Length) is { } part)
            {
                if (part.Table) _msix.ReadTable(part.Offset, data); else _msix.ReadPba(part.Offset, data);
                return;
            }
            if (_function.Read(_function.Region(index), offset, data)) return;
            Fence($"read of {data.Length} bytes at {PciBarIndex.Name(index)}+0x{offset:x}");
        }
        data.Fill(0xFF);
    }

    /// <inheritdoc/>
    public override void WriteBar(int index, ulong offset, ReadOnlySpan<byte> data)
    {
        if (_fenced || index == PciBarIndex.Rom) return;
        if (_msix is not null && MsixPart(index, offset, data.Length) is { } part)
        {
            if (part.Table) _msix.WriteTable(part.Offset, data);
            return; // the PBA is read-only
        }
        if (!_function.Write(_function.Region(index), offset, data))
            Fence($"write of {data.Length} bytes at {PciBarIndex.Name(index)}+0x{offset:x}");
    }

    // The MSI-X table or PBA access at BAR index+offset, as an offset into it; null when the access is elsewhere.
    private (bool Table, ulong Offset)? MsixPart(int index, ulong offset, int length)
    {
        var x = _msixLayout!;
        if (index == x.TableBar && offset >= x.TableOffset && offset - x.TableOffset < (ulong)_msix!.TableBytes)
            return (true, offset - x.TableOffset);
        if (index == x.PbaBar && offset >= x.PbaOffset && offset - x.PbaOffset < (ulong)_msix!.PbaBytes)
            return (false, offset - x.PbaOffset);
        return null;
    }

    private uint ReadHostConfig(int register)
    {
        if ((ulong)register * 4 + 4 > _config.Size) return 0; // beyond the host's config space (no extended space): absent
        Span<byte> b = stackalloc byte[4];
        if (_function.Read(_config, (ulong)register * 4, b)) return BinaryPrimitives.ReadUInt32LittleEndian(b);
        Fence($"config read at 0x{register * 4:x}");
        return 0xFFFF_FFFF;
    }

    private void Fence(string what)
    {
        if (_fenced) return;
        _fenced = true;
        _logger.LogError("{Device}: VFIO {What} on host {Host} failed; the device is fenced (reads all ones, writes dropped)",
            _name, what, _function.Address);
        foreach (var slot in _slots) TryDispose(slot);
        _slots.Clear();
        _slotsMapped = false;
        if (_msixWired) _function.SetIrqEventFds(VfioIrq.Msix, []);
        if (_msiWired) _function.SetIrqEventFds(VfioIrq.Msi, []);
        _msixWired = _msiWired = false;
        _msiWiredCount = 0;
    }

    private static void TryDispose(IDisposable d)
    {
        try
        {
            d.Dispose();
        }
        catch (Exception)
        {
            // fencing goes on: a slot that cannot be removed keeps mapping device memory, nothing worse
        }
    }

    /// <summary>Stops the host interrupts, removes the memory slots, releases the groups and the VFIO fds.</summary>
    public void Dispose()
    {
        if (_msixWired) _function.SetIrqEventFds(VfioIrq.Msix, []);
        if (_msiWired) _function.SetIrqEventFds(VfioIrq.Msi, []);
        _msixWired = _msiWired = false;
        _msiWiredCount = 0;
        foreach (var slot in _slots) TryDispose(slot);
        _slots.Clear();
        foreach (var (_, _, memory) in _windows) TryDispose(memory);
        _windows.Clear();
        _msixGroup?.Dispose();
        _msiGroup?.Dispose();
        _function.Dispose();
    }
}
