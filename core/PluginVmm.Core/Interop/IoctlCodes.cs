namespace PluginVmm.Core.Interop;

/// <summary>Linux asm-generic ioctl number encoding (x86-64): dir(2) | size(14) | type(8) | nr(8).</summary>
internal static class IoctlCodes
{
    private const int NrShift = 0, TypeShift = 8, SizeShift = 16, DirShift = 30;
    private const uint None = 0, Write = 1, Read = 2;

    public static nuint IO(uint type, uint nr) => Make(None, type, nr, 0);
    public static nuint IOR(uint type, uint nr, int size) => Make(Read, type, nr, size);
    public static nuint IOW(uint type, uint nr, int size) => Make(Write, type, nr, size);
    public static nuint IOWR(uint type, uint nr, int size) => Make(Read | Write, type, nr, size);

    private static nuint Make(uint dir, uint type, uint nr, int size)
    {
        if ((uint)size >= 1u << 14) throw new ArgumentOutOfRangeException(nameof(size));
        return (nuint)((dir << DirShift) | ((uint)size << SizeShift) | (type << TypeShift) | (nr << NrShift));
    }
}
