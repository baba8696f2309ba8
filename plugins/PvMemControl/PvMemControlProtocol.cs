namespace PluginVmm.Plugins.PvMemControl;

/// <summary>
/// Constants of the pvmemcontrol protocol (cloud-hypervisor's <c>--pvmemcontrol</c> device). Transport commands have
/// a zero top byte; connection ids have bit 31 set, so the command register tells them apart.
/// </summary>
internal static class PvMemControlProtocol
{
    /// <summary>BAR0 layout: payload (8 bytes), command register (4 bytes), padding to 16.</summary>
    public const int PayloadOffset = 0, PayloadSize = 8, CommandOffset = 8, TransportSize = 16;

    public const uint Reset = 0x060F_E6D2, Register = 0x0E35_9539, Ready = 0x0CA8_D227, Disconnect = 0x030F_5DA0,
        Ack = 0x03CF_5196, Error = 0x01FB_A249;

    /// <summary>The first connection id handed out after a Reset; ids count up from here.</summary>
    public const uint FirstConnection = 0x8000_0000;

    /// <summary>
    /// Registered buffers are kept in a map, so a guest registering forever would grow host memory: beyond this many
    /// (one per guest CPU is the protocol's use) Register answers Error and the transport breaks.
    /// </summary>
    public const int MaxConnections = 4096;

    /// <summary>Request and response are both 32 bytes, in the registered buffer.</summary>
    public const int MessageSize = 32;

    public const uint MajorVersion = 1, MinorVersion = 0;
}

/// <summary>pvmemcontrol function codes (the request's first u64).</summary>
internal enum PvMemControlFunction : ulong
{
    Info = 0,
    DontNeed = 1,
    Remove = 2,
    Free = 3,
    PageOut = 4,
    DontDump = 5,
    SetVmaAnonName = 6,
    Mlock = 7,
    Munlock = 8,
    MprotectNone = 9,
    MprotectRead = 10,
    MprotectWrite = 11,
    MprotectReadWrite = 12,
    Mergeable = 13,
    Unmergeable = 14,
}
