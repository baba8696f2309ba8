using System.Buffers.Binary;
using PluginVmm.Sdk.Interrupts;

namespace PluginVmm.Sdk.Pci;

/// <summary>
/// Emulated MSI-X table and pending-bit array (PCI Local Bus 3.0 §6.8.2) over an <see cref="IMsiVectorGroup"/>.
/// A device forwards the BAR accesses that fall on its table and PBA here and calls
/// <see cref="SetMessageControl"/> after config writes (see <see cref="SyncFromConfig"/>).
/// <para>
/// Entries are 16 bytes (address low, address high, data, vector control) and start masked. Accesses must be
/// 4 or 8 bytes, naturally aligned, inside the table; anything else is ignored (reads return zeros). The route
/// of a vector is pushed to <see cref="IMsiVectorGroup.Update"/> whenever its message or its effective mask
/// (entry mask, function mask, MSI-X disabled) changes. <see cref="Trigger"/> on a masked vector sets its
/// pending bit; the interrupt is delivered when the vector is unmasked. The PBA is read-only.
/// </para>
/// Thread-safe: vCPU threads program the table while device threads trigger vectors.
/// </summary>
public sealed class MsixTable
{
    /// <summary>Bytes per table entry.</summary>
    public const int EntrySize = 16;

    /// <summary>Message Control: MSI-X Enable.</summary>
    public const ushort ControlEnable = 0x8000;

    /// <summary>Message Control: Function Mask.</summary>
    public const ushort ControlFunctionMask = 0x4000;

    private readonly IMsiVectorGroup _group;
    private readonly Entry[] _entries;
    private readonly ulong[] _pending;
    private readonly object _lock = new();
    private bool _enabled;
    private bool _functionMasked;

    private struct Entry
    {
        public uint AddressLow, AddressHigh, Data, Control;
        public bool Pushed;        // a route was pushed at least once
        public bool PushedMasked;  // the masked state last pushed
        public MsiMessage PushedMessage;

        public readonly bool Masked => (Control & 1) != 0;

        public readonly MsiMessage Message => new((ulong)AddressHigh << 32 | AddressLow, Data);
    }

    /// <summary>Creates a table of <paramref name="vectors"/> masked entries whose routes go to <paramref name="group"/>.</summary>
    public MsixTable(int vectors, IMsiVectorGroup group)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(vectors, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(vectors, 2048);
        _group = group;
        _entries = new Entry[vectors];
        for (int i = 0; i < vectors; i++) _entries[i].Control = 1;
        _pending = new ulong[(vectors + 63) / 64];
    }

    /// <summary>Number of vectors.</summary>
    public int Count => _entries.Length;

    /// <summary>Table size in bytes.</summary>
    public int TableBytes => _entries.Length * EntrySize;

    /// <summary>PBA size in bytes (whole qwords).</summary>
    public int PbaBytes => _pending.Length * 8;

    /// <summary>MSI-X Enable as last written to Message Control.</summary>
    public bool Enabled { get { lock (_lock) return _enabled; } }

    /// <summary>Function Mask as last written to Message Control.</summary>
    public bool FunctionMasked { get { lock (_lock) return _functionMasked; } }

    /// <summary>True when vector <paramref name="vector"/> would not be delivered now (out of range included).</summary>
    public bool IsMasked(int vector)
    {
        lock (_lock) return (uint)vector >= (uint)_entries.Length || EffectiveMasked(vector);
    }

    /// <summary>True when the pending bit of <paramref name="vector"/> is set.</summary>
    public bool IsPending(int vector)
    {
        lock (_lock) return (uint)vector < (uint)_entries.Length && (_pending[vector / 64] & (1UL << (vector % 64))) != 0;
    }

    /// <summary>
    /// Reads Message Control of the MSI-X capability at <paramref name="capabilityOffset"/> in
    /// <paramref name="config"/> and applies it; call from <see cref="PciDevice"/>'s OnConfigWritten.
    /// </summary>
    public void SyncFromConfig(PciConfiguration config, int capabilityOffset) =>
        SetMessageControl((ushort)(config.Read(capabilityOffset / 4) >> 16));

    /// <summary>Applies Message Control (Enable, Function Mask); other bits are ignored.</summary>
    public void SetMessageControl(ushort control)
    {
        lock (_lock)
        {
            bool enabled = (control & ControlEnable) != 0;
            bool masked = (control & ControlFunctionMask) != 0;
            if (enabled == _enabled && masked == _functionMasked) return;
            _enabled = enabled;
            _functionMasked = masked;
            for (int i = 0; i < _entries.Length; i++) Refresh(i);
        }
    }

    /// <summary>Raises <paramref name="vector"/>, or sets its pending bit when it is masked. Out of range: ignored.</summary>
    public void Trigger(int vector)
    {
        if ((uint)vector >= (uint)_entries.Length) return;
        lock (_lock)
        {
            if (EffectiveMasked(vector))
            {
                _pending[vector / 64] |= 1UL << (vector % 64);
                return;
            }
        }
        _group.Trigger(vector);
    }

    /// <summary>A guest read at <paramref name="offset"/> from the table start.</summary>
    public void ReadTable(ulong offset, Span<byte> data)
    {
        data.Clear();
        if (!WellFormed(offset, data.Length, (ulong)TableBytes)) return;
        lock (_lock)
        {
            for (int done = 0; done < data.Length; done += 4)
                BinaryPrimitives.WriteUInt32LittleEndian(data[done..], ReadDword(offset + (ulong)done));
        }
    }

    /// <summary>A guest write at <paramref name="offset"/> from the table start.</summary>
    public void WriteTable(ulong offset, ReadOnlySpan<byte> data)
    {
        if (!WellFormed(offset, data.Length, (ulong)TableBytes)) return;
        lock (_lock)
        {
            int vector = (int)(offset / EntrySize);
            for (int done = 0; done < data.Length; done += 4)
                WriteDword(offset + (ulong)done, BinaryPrimitives.ReadUInt32LittleEndian(data[done..]));
            Refresh(vector);
        }
    }

    /// <summary>A guest read at <paramref name="offset"/> from the PBA start.</summary>
    public void ReadPba(ulong offset, Span<byte> data)
    {
        data.Clear();
        if (!WellFormed(offset, data.Length, (ulong)PbaBytes)) return;
        lock (_lock)
        {
            ulong qword = _pending[offset / 8];
            if (data.Length == 8) BinaryPrimitives.WriteUInt64LittleEndian(data, qword);
            else BinaryPrimitives.WriteUInt32LittleEndian(data, (uint)(qword >> (int)(offset % 8 * 8)));
        }
    }

    /// <summary>Writes to the PBA are ignored (it is read-only).</summary>
    public static void WritePba(ulong offset, ReadOnlySpan<byte> data)
    {
    }

    /// <summary>Masks every entry and clears pending bits (device reset; Message Control lives in config space).</summary>
    public void Reset()
    {
        lock (_lock)
        {
            for (int i = 0; i < _entries.Length; i++)
            {
                _entries[i].AddressLow = _entries[i].AddressHigh = _entries[i].Data = 0;
                _entries[i].Control = 1;
                Refresh(i);
            }
            Array.Clear(_pending);
        }
    }

    private static bool WellFormed(ulong offset, int length, ulong limit) =>
        length is 4 or 8 && offset % (ulong)length == 0 && offset < limit && limit - offset >= (ulong)length;

    private bool EffectiveMasked(int vector) => !_enabled || _functionMasked || _entries[vector].Masked;

    private uint ReadDword(ulong offset)
    {
        ref var e = ref _entries[offset / EntrySize];
        return (offset % EntrySize) switch
        {
            0 => e.AddressLow,
            4 => e.AddressHigh,
            8 => e.Data,
            _ => e.Control,
        };
    }

    private void WriteDword(ulong offset, uint value)
    {
        ref var e = ref _entries[offset / EntrySize];
        switch (offset % EntrySize)
        {
            case 0: e.AddressLow = value & ~3u; break;  // bits 1:0 are reserved (dword-aligned address)
            case 4: e.AddressHigh = value; break;
            case 8: e.Data = value; break;
            default: e.Control = value & 1; break;     // only the mask bit is defined
        }
    }

    // Pushes the vector's route when it changed, and delivers a pending interrupt once the vector is unmasked.
    private void Refresh(int vector)
    {
        ref var e = ref _entries[vector];
        bool masked = EffectiveMasked(vector);
        var message = e.Message;
        if (!e.Pushed || e.PushedMasked != masked || (!masked && e.PushedMessage != message))
        {
            if (e.Pushed || !masked) _group.Update(vector, message, masked);
            e.Pushed = true;
            e.PushedMasked = masked;
            e.PushedMessage = message;
        }
        ulong bit = 1UL << (vector % 64);
        if (!masked && (_pending[vector / 64] & bit) != 0)
        {
            _pending[vector / 64] &= ~bit;
            _group.Trigger(vector);
        }
    }
}
