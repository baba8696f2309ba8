using System.Buffers.Binary;
using PluginVmm.Sdk.Interrupts;

namespace PluginVmm.Plugins.Vfio;

/// <summary>
/// The MSI capability as the guest sees it, emulated (never forwarded): the guest's address/data/enable decide the
/// routes of our vectors, and the host function's MSI is wired to their eventfds. Writable: Enable and Multiple
/// Message Enable of Message Control, the address (dword aligned), the data, the mask bits. Pure state; the device
/// acts on <see cref="Write"/>'s answer.
/// </summary>
internal sealed class VfioMsiCapability
{
    private readonly VfioMsiLayout _layout;
    private readonly byte[] _bytes;

    /// <summary>Starts from the host capability's bytes with Enable and Multiple Message Enable cleared.</summary>
    public VfioMsiCapability(VfioMsiLayout layout, ReadOnlySpan<byte> hostCapability)
    {
        _layout = layout;
        _bytes = hostCapability[..layout.Length].ToArray();
        Control = (ushort)(Control & ~0x71);
        for (int i = 4; i < _bytes.Length; i++) _bytes[i] = 0;
    }

    public VfioMsiLayout Layout => _layout;

    private ushort Control
    {
        get => BinaryPrimitives.ReadUInt16LittleEndian(_bytes.AsSpan(2));
        set => BinaryPrimitives.WriteUInt16LittleEndian(_bytes.AsSpan(2), value);
    }

    /// <summary>MSI Enable.</summary>
    public bool Enabled => (Control & 1) != 0;

    /// <summary>Vectors the guest enabled (Multiple Message Enable, capped by what the host function has).</summary>
    public int EnabledVectors => Math.Min(1 << Math.Min((Control >> 4) & 7, 5), _layout.Vectors);

    /// <summary>True when config dword <paramref name="register"/> lies (partly) in the capability.</summary>
    public bool Covers(int register) => register * 4 + 4 > _layout.CapabilityOffset && register * 4 < _layout.CapabilityOffset + _bytes.Length;

    /// <summary>
    /// Merges the emulated bytes into <paramref name="hostDword"/> (config dword <paramref name="register"/> read from
    /// the host): bytes outside the capability stay the host's.
    /// </summary>
    public uint Read(int register, uint hostDword)
    {
        uint value = hostDword;
        for (int b = 0; b < 4; b++)
        {
            int at = register * 4 + b - _layout.CapabilityOffset;
            if (at < 0 || at >= _bytes.Length) continue;
            value = (value & ~(0xFFu << (b * 8))) | ((uint)_bytes[at] << (b * 8));
        }
        return value;
    }

    /// <summary>Applies a guest write of <paramref name="data"/> at byte <paramref name="offset"/> of dword <paramref name="register"/>.</summary>
    public void Write(int register, int offset, ReadOnlySpan<byte> data)
    {
        for (int i = 0; i < data.Length; i++)
        {
            int at = register * 4 + offset + i - _layout.CapabilityOffset;
            if (at < 2 || at >= _bytes.Length) continue; // ID and next pointer are read-only
            _bytes[at] = (byte)((_bytes[at] & ~WritableMask(at)) | (data[i] & WritableMask(at)));
        }
    }

    /// <summary>The message of vector <paramref name="vector"/>: the programmed address, data with the vector in its low bits.</summary>
    public MsiMessage Message(int vector)
    {
        ulong address = BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(4));
        if (_layout.Is64Bit) address |= (ulong)BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(8)) << 32;
        uint data = BinaryPrimitives.ReadUInt16LittleEndian(_bytes.AsSpan(_layout.DataOffset));
        int bits = EnabledVectors - 1;
        return new MsiMessage(address, (data & ~(uint)bits) | ((uint)vector & (uint)bits));
    }

    /// <summary>True when per-vector masking is present and <paramref name="vector"/>'s mask bit is set.</summary>
    public bool IsMasked(int vector) =>
        _layout.PerVectorMask && (BinaryPrimitives.ReadUInt32LittleEndian(_bytes.AsSpan(_layout.DataOffset + 4)) >> vector & 1) != 0;

    private byte WritableMask(int at)
    {
        if (at == 2) return 0x71;                 // Enable, Multiple Message Enable
        if (at == 3) return 0;
        if (at == 4) return 0xFC;                 // address bits 1:0 are reserved
        if (at < _layout.DataOffset) return 0xFF; // address (upper dword of a 64-bit address)
        if (at < _layout.DataOffset + 2) return 0xFF;
        if (_layout.PerVectorMask && at >= _layout.DataOffset + 4 && at < _layout.DataOffset + 8) return 0xFF;
        return 0;                                  // reserved, pending bits
    }
}
