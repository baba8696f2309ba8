using System.Buffers.Binary;

namespace PluginVmm.Sdk.Pci;

/// <summary>Builders for standard capabilities on a <see cref="PciConfiguration"/>.</summary>
public static class PciCapabilities
{
    /// <summary>MSI-X capability ID.</summary>
    public const byte MsixId = 0x11;

    /// <summary>Vendor-specific capability ID (virtio uses it).</summary>
    public const byte VendorId = 0x09;

    /// <summary>
    /// Adds an MSI-X capability for <paramref name="vectors"/> vectors whose table and PBA live in BAR
    /// <paramref name="bar"/>. Only Function Mask (bit 14) and Enable (bit 15) of Message Control are writable.
    /// Returns the capability's config offset.
    /// </summary>
    public static int AddMsix(PciConfiguration config, int vectors, int bar, uint tableOffset, uint pbaOffset)
    {
        if (vectors is < 1 or > 2048) throw new ArgumentOutOfRangeException(nameof(vectors));
        Span<byte> body = stackalloc byte[10];
        BinaryPrimitives.WriteUInt16LittleEndian(body, (ushort)(vectors - 1));
        BinaryPrimitives.WriteUInt32LittleEndian(body[2..], tableOffset | (uint)bar);
        BinaryPrimitives.WriteUInt32LittleEndian(body[6..], pbaOffset | (uint)bar);
        int offset = config.AddCapability(MsixId, body);
        config.SetWritableBits(offset, 0xC000_0000);
        return offset;
    }

    /// <summary>Adds a virtio_pci_cap (virtio 1.x §4.1.4) pointing at [offset, offset+length) of BAR <paramref name="bar"/>.</summary>
    public static int AddVirtio(PciConfiguration config, byte cfgType, int bar, uint offset, uint length, uint? notifyMultiplier = null)
    {
        int capLength = notifyMultiplier is null ? 16 : 20;
        Span<byte> body = stackalloc byte[capLength - 2];
        body[0] = (byte)capLength;
        body[1] = cfgType;
        body[2] = (byte)bar;
        BinaryPrimitives.WriteUInt32LittleEndian(body[6..], offset);
        BinaryPrimitives.WriteUInt32LittleEndian(body[10..], length);
        if (notifyMultiplier is { } m) BinaryPrimitives.WriteUInt32LittleEndian(body[14..], m);
        return config.AddCapability(VendorId, body);
    }
}
