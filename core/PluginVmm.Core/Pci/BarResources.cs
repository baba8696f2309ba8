using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Resources;

namespace PluginVmm.Core.Pci;

/// <summary>
/// The core's <see cref="IBarResources"/> for one device: memory slots and ioeventfds kept per BAR at a BAR
/// offset, so the relocation transaction can move them with the BAR (and put them back when a move fails)
/// without knowing the device type. The real KVM operations go through <see cref="IMemorySlotMapper"/> and
/// <see cref="IIoEventRegistrar"/>.
/// <para>
/// A device may register resources in its constructor, before the core knows its BARs: they are validated when
/// the device is attached and placed when its BARs get addresses. Each resource records the guest address it is
/// registered at now (null when not registered), which is what the core checks against its BAR record.
/// </para>
/// Thread-safe: a device may register from its own threads while the core moves BARs.
/// </summary>
public sealed class BarResources : IBarResources
{
    private const ulong PageSize = 0x1000;

    private readonly object _lock = new();
    private readonly string _deviceName;
    private readonly IMemorySlotMapper _slots;
    private readonly IIoEventRegistrar _ioEvents;
    private readonly List<SlotEntry> _slotEntries = [];
    private readonly List<IoEventEntry> _ioEntries = [];
    private IReadOnlyList<PciBarSpec>? _specs;
    private readonly ulong?[] _placedAt = new ulong?[PciBarIndex.Rom + 1];

    /// <summary>Creates the resources of one device (before the device itself, which receives them).</summary>
    public BarResources(string deviceName, IMemorySlotMapper slots, IIoEventRegistrar ioEvents)
    {
        _deviceName = deviceName;
        _slots = slots;
        _ioEvents = ioEvents;
    }

    /// <inheritdoc/>
    public IHostMemory MapFile(string path, ulong size, bool readOnly = false) => _slots.MapFile(path, size, readOnly);

    /// <inheritdoc/>
    public IHostMemory MapFd(int fd, long offset, ulong size, bool readOnly = false) => _slots.MapFd(fd, offset, size, readOnly);

    /// <inheritdoc/>
    public IDisposable MapIntoBar(int barIndex, ulong offset, IHostMemory memory, bool readOnly = false)
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (!PciBarIndex.IsValid(barIndex)) throw new ArgumentOutOfRangeException(nameof(barIndex));
        var entry = new SlotEntry(this, barIndex, offset, memory, readOnly);
        lock (_lock)
        {
            if (_specs is not null && Check(entry, _specs) is { } error) throw new ArgumentException(error);
            _slotEntries.Add(entry);
            if (_placedAt[barIndex] is { } barBase)
            {
                try
                {
                    entry.Register(barBase);
                }
                catch
                {
                    _slotEntries.Remove(entry);
                    throw;
                }
            }
        }
        return entry;
    }

    /// <inheritdoc/>
    public IIoEvent AddIoEvent(int barIndex, ulong offset, int length, ulong? dataMatch = null)
    {
        if (!PciBarIndex.IsValid(barIndex)) throw new ArgumentOutOfRangeException(nameof(barIndex));
        lock (_lock)
        {
            var probe = new IoEventEntry(this, barIndex, offset, length, dataMatch, null!);
            if (_specs is not null && Check(probe, _specs) is { } error) throw new ArgumentException(error);
            var entry = new IoEventEntry(this, barIndex, offset, length, dataMatch, _ioEvents.CreateEventFd());
            _ioEntries.Add(entry);
            if (_placedAt[barIndex] is { } barBase)
            {
                try
                {
                    entry.Register(barBase);
                }
                catch
                {
                    _ioEntries.Remove(entry);
                    entry.EventFd.Dispose();
                    throw;
                }
            }
            return entry;
        }
    }

    /// <summary>Where resources of BAR <paramref name="index"/> are registered now (null: withdrawn).</summary>
    public ulong? PlacedAt(int index) { lock (_lock) return _placedAt[index]; }

    /// <summary>Guest addresses of every registered resource, for checks and tests: (BAR, space, address, length).</summary>
    public IReadOnlyList<(int Bar, BusSpace Space, ulong Address, ulong Length)> RegisteredResources()
    {
        lock (_lock)
        {
            var list = new List<(int, BusSpace, ulong, ulong)>();
            foreach (var s in _slotEntries)
                if (s.RegisteredAt is { } a) list.Add((s.BarIndex, BusSpace.Mmio, a, s.Memory.Size));
            foreach (var e in _ioEntries)
                if (e.RegisteredAt is { } a) list.Add((e.BarIndex, e.Space, a, (ulong)e.Length));
            return list;
        }
    }

    /// <summary>
    /// True when every resource of BAR <paramref name="index"/> is registered at <paramref name="barBase"/> +
    /// its offset (or, with null, registered nowhere).
    /// </summary>
    internal bool IsPlacedAt(int index, ulong? barBase)
    {
        lock (_lock)
        {
            if (_placedAt[index] != barBase) return false;
            foreach (var s in _slotEntries)
                if (s.BarIndex == index && s.RegisteredAt != barBase + s.Offset) return false;
            foreach (var e in _ioEntries)
                if (e.BarIndex == index && e.RegisteredAt != barBase + e.Offset) return false;
            return true;
        }
    }

    /// <summary>Takes the BAR specs; throws <see cref="ArgumentException"/> naming the first resource that does not fit.</summary>
    internal void Attach(IReadOnlyList<PciBarSpec> specs)
    {
        lock (_lock)
        {
            foreach (var s in _slotEntries)
                if (Check(s, specs) is { } error) throw new ArgumentException(error);
            foreach (var e in _ioEntries)
                if (Check(e, specs) is { } error) throw new ArgumentException(error);
            _specs = specs;
        }
    }

    /// <summary>
    /// Registers every resource of BAR <paramref name="index"/> at <paramref name="barBase"/>. All or nothing: on
    /// a failure the ones already registered are taken back and the exception propagates (if taking one back
    /// fails too, its <c>RegisteredAt</c> still says where it is, and the core's check sees the mismatch).
    /// </summary>
    internal void Place(int index, ulong barBase)
    {
        lock (_lock)
        {
            if (_placedAt[index] is not null) throw new InvalidOperationException($"{PciBarIndex.Name(index)} resources are already placed");
            var done = new List<IResourceEntry>();
            try
            {
                foreach (var entry in EntriesOf(index))
                {
                    entry.Register(barBase);
                    done.Add(entry);
                }
            }
            catch
            {
                for (int i = done.Count - 1; i >= 0; i--) TryQuietly(done[i].Unregister);
                throw;
            }
            _placedAt[index] = barBase;
        }
    }

    /// <summary>Unregisters every resource of BAR <paramref name="index"/>; all or nothing like <see cref="Place"/>.</summary>
    internal void Withdraw(int index)
    {
        lock (_lock)
        {
            if (_placedAt[index] is not { } barBase) return;
            var done = new List<IResourceEntry>();
            try
            {
                foreach (var entry in EntriesOf(index))
                {
                    entry.Unregister();
                    done.Add(entry);
                }
            }
            catch
            {
                for (int i = done.Count - 1; i >= 0; i--)
                {
                    var entry = done[i];
                    TryQuietly(() => entry.Register(barBase));
                }
                throw;
            }
            _placedAt[index] = null;
        }
    }

    /// <summary>Fencing: unregisters everything it can, ignoring failures. Returns the failures.</summary>
    internal List<Exception> WithdrawAll()
    {
        var failures = new List<Exception>();
        lock (_lock)
        {
            for (int index = 0; index < _placedAt.Length; index++)
            {
                foreach (var entry in EntriesOf(index))
                    if (entry.IsRegistered && TryQuietly(entry.Unregister) is { } e) failures.Add(e);
                _placedAt[index] = null;
            }
        }
        return failures;
    }

    private IEnumerable<IResourceEntry> EntriesOf(int index) =>
        _slotEntries.Where(s => s.BarIndex == index).Cast<IResourceEntry>()
            .Concat(_ioEntries.Where(e => e.BarIndex == index)).ToList();

    private static Exception? TryQuietly(Action action)
    {
        try
        {
            action();
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }

    private string? Check(SlotEntry s, IReadOnlyList<PciBarSpec> specs)
    {
        var prefix = $"{_deviceName}: memory of 0x{s.Memory.Size:x} bytes at {PciBarIndex.Name(s.BarIndex)}+0x{s.Offset:x}";
        if (SpecOf(s.BarIndex, specs) is not { } spec) return $"{prefix}: the device declares no such BAR";
        if (spec.Kind == PciBarKind.Io) return $"{prefix}: an I/O BAR cannot hold memory";
        if (s.Memory.Size == 0 || s.Memory.Size % PageSize != 0 || s.Offset % PageSize != 0)
            return $"{prefix}: offset and size must be multiples of 4 KiB";
        if (s.Offset >= spec.Size || spec.Size - s.Offset < s.Memory.Size) return $"{prefix}: does not fit in the 0x{spec.Size:x}-byte BAR";
        foreach (var other in _slotEntries)
            if (other != s && other.BarIndex == s.BarIndex && other.Offset < s.Offset + s.Memory.Size && s.Offset < other.Offset + other.Memory.Size)
                return $"{prefix}: overlaps memory already mapped at +0x{other.Offset:x}";
        return null;
    }

    private string? Check(IoEventEntry e, IReadOnlyList<PciBarSpec> specs)
    {
        var prefix = $"{_deviceName}: ioeventfd at {PciBarIndex.Name(e.BarIndex)}+0x{e.Offset:x}";
        if (SpecOf(e.BarIndex, specs) is not { } spec) return $"{prefix}: the device declares no such BAR";
        if (e.Length is not (0 or 1 or 2 or 4 or 8)) return $"{prefix}: length {e.Length} is not 0, 1, 2, 4 or 8";
        if (e.Length == 0 && (e.DataMatch is not null || spec.Kind == PciBarKind.Io)) return $"{prefix}: length 0 needs an MMIO BAR and no data match";
        ulong span = (ulong)Math.Max(e.Length, 1);
        if (e.Offset >= spec.Size || spec.Size - e.Offset < span) return $"{prefix}: outside the 0x{spec.Size:x}-byte BAR";
        return null;
    }

    private static PciBarSpec? SpecOf(int index, IReadOnlyList<PciBarSpec> specs) => specs.FirstOrDefault(s => s.Index == index);

    private interface IResourceEntry
    {
        bool IsRegistered { get; }

        void Register(ulong barBase);

        void Unregister();
    }

    private sealed class SlotEntry(BarResources owner, int barIndex, ulong offset, IHostMemory memory, bool readOnly)
        : IResourceEntry, IDisposable
    {
        private int _slot;
        private bool _disposed;

        public int BarIndex { get; } = barIndex;

        public ulong Offset { get; } = offset;

        public IHostMemory Memory { get; } = memory;

        public ulong? RegisteredAt { get; private set; }

        public bool IsRegistered => RegisteredAt is not null;

        public void Register(ulong barBase)
        {
            ulong address = barBase + Offset;
            _slot = owner._slots.AddSlot(address, Memory, readOnly);
            RegisteredAt = address;
        }

        public void Unregister()
        {
            if (RegisteredAt is null) return;
            owner._slots.RemoveSlot(_slot);
            RegisteredAt = null;
        }

        public void Dispose()
        {
            lock (owner._lock)
            {
                if (_disposed) return;
                Unregister();
                owner._slotEntries.Remove(this);
                _disposed = true;
            }
        }
    }

    private sealed class IoEventEntry(BarResources owner, int barIndex, ulong offset, int length, ulong? dataMatch, IIoEvent eventFd)
        : IResourceEntry, IIoEvent
    {
        private bool _disposed;

        public int BarIndex { get; } = barIndex;

        public ulong Offset { get; } = offset;

        public int Length { get; } = length;

        public ulong? DataMatch { get; } = dataMatch;

        public IIoEvent EventFd { get; } = eventFd;

        public BusSpace Space => owner._specs?.FirstOrDefault(s => s.Index == BarIndex)?.Kind == PciBarKind.Io ? BusSpace.Pio : BusSpace.Mmio;

        public ulong? RegisteredAt { get; private set; }

        public bool IsRegistered => RegisteredAt is not null;

        public int Fd => EventFd.Fd;

        public bool TryConsume(out ulong count) => EventFd.TryConsume(out count);

        // Forward to the eventfd's blocking wait (poll), not the interface's polling fallback.
        public bool Wait(CancellationToken cancellationToken) => EventFd.Wait(cancellationToken);

        public void Register(ulong barBase)
        {
            ulong address = barBase + Offset;
            owner._ioEvents.Register(Space, address, Length, DataMatch, EventFd);
            RegisteredAt = address;
        }

        public void Unregister()
        {
            if (RegisteredAt is not { } address) return;
            owner._ioEvents.Unregister(Space, address, Length, DataMatch, EventFd);
            RegisteredAt = null;
        }

        public void Dispose()
        {
            lock (owner._lock)
            {
                if (_disposed) return;
                Unregister();
                owner._ioEntries.Remove(this);
                _disposed = true;
            }
            EventFd.Dispose();
        }
    }
}
