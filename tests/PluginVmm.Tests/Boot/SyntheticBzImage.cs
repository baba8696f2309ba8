using System.Buffers.Binary;

namespace PluginVmm.Tests.Boot;

/// <summary>A minimal bzImage: boot sector + setup sectors with a setup header, then a recognisable kernel payload.</summary>
internal static class SyntheticBzImage
{
    public const int SetupSects = 4;
    public const int KernelOffset = (SetupSects + 1) * 512;

    public static byte[] Build(
        ushort version = 0x020F,
        int payloadLength = 0x3000,
        uint cmdlineSize = 0x7FF,
        uint initrdAddrMax = 0x7FFF_FFFF,
        uint initSize = 0x20_0000,
        ulong prefAddress = 0x100_0000,
        uint kernelAlignment = 0x20_0000,
        byte loadFlags = 0x01,
        ushort xloadFlags = 0x7F)
    {
        var image = new byte[KernelOffset + payloadLength];
        image[0x1F1] = SetupSects;
        W32(image, 0x1F4, (uint)(payloadLength / 16));
        W16(image, 0x1FA, 0xFFFF);                 // vid_mode "normal"
        W16(image, 0x1FE, 0xAA55);
        image[0x200] = 0xEB; image[0x201] = 0x6A;  // jmp: header ends at 0x202 + 0x6A
        "HdrS"u8.CopyTo(image.AsSpan(0x202));
        W16(image, 0x206, version);
        image[0x211] = loadFlags;
        W32(image, 0x214, 0x10_0000);
        W32(image, 0x22C, initrdAddrMax);
        W32(image, 0x230, kernelAlignment);
        image[0x234] = 1;                          // relocatable
        image[0x235] = 21;
        W16(image, 0x236, xloadFlags);
        W32(image, 0x238, cmdlineSize);
        W64(image, 0x258, prefAddress);
        W32(image, 0x260, initSize);
        for (var i = 0; i < payloadLength; i++) image[KernelOffset + i] = (byte)(i * 7 + 3);
        return image;
    }

    public static void W16(byte[] b, int o, ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(o), v);
    public static void W32(byte[] b, int o, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(o), v);
    public static void W64(byte[] b, int o, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(o), v);
}
