using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace PluginVmm.Plugins.Vfio.Interop;

/// <summary>
/// The libc calls VFIO passthrough needs: ioctl on the container, group and device fds, and pread/pwrite at region
/// offsets of the device fd. .NET's RandomAccess cannot be used for the latter: a VFIO device fd is an anonymous
/// inode without llseek, so the runtime treats it as unseekable and would ignore the offset.
/// <para>
/// Why here and not in the core behind an SDK service: VFIO is this plugin's own business (no other device needs it),
/// a plugin may reference only the SDK, and the project keeps one interop place per assembly — for this plugin, this
/// folder. The core already offers what VFIO needs from it (<c>IBarResources.MapFd</c> + <c>MapIntoBar</c> for BAR
/// memory slots, <c>IMsiVectorGroup.EventFd</c> for interrupts, <c>IDeviceContext.RamMappings</c> for DMA). No
/// <c>unsafe</c> code is written here: arguments are arrays, refs and SafeHandles that the LibraryImport generator
/// pins. Constants and layouts are from linux/vfio.h (x86-64).
/// </para>
/// </summary>
internal static partial class VfioNative
{
    // _IO(';', 100 + n): VFIO's ioctls carry no size in their number; each struct starts with its own argsz.
    public const uint GetApiVersion = 0x3B64, CheckExtension = 0x3B65, SetIommu = 0x3B66;
    public const uint GroupGetStatus = 0x3B67, GroupSetContainer = 0x3B68, GroupGetDeviceFd = 0x3B6A;
    public const uint DeviceGetInfo = 0x3B6B, DeviceGetRegionInfo = 0x3B6C, DeviceGetIrqInfo = 0x3B6D;
    public const uint DeviceSetIrqs = 0x3B6E, DeviceReset = 0x3B6F, IommuMapDma = 0x3B71, IommuUnmapDma = 0x3B72;

    public const int ApiVersion = 0;
    public const uint Type1Iommu = 1, Type1v2Iommu = 3;
    public const uint GroupFlagsViable = 1;
    public const uint DeviceFlagsPci = 2;
    public const uint DmaMapRead = 1, DmaMapWrite = 2;
    public const uint IrqSetDataNone = 1, IrqSetDataEventFd = 4, IrqSetActionTrigger = 0x20;

    /// <summary>sizeof(struct vfio_region_info) without capabilities; a bigger buffer receives the capability chain.</summary>
    public const int RegionInfoSize = 32;

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(SafeFileHandle fd, nuint request, byte[] arg);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(SafeFileHandle fd, nuint request, nuint arg);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(SafeFileHandle fd, nuint request, ref int arg);

    [LibraryImport("libc", EntryPoint = "pread", SetLastError = true)]
    public static partial nint Pread(SafeFileHandle fd, ref byte buffer, nuint count, long offset);

    [LibraryImport("libc", EntryPoint = "pwrite", SetLastError = true)]
    public static partial nint Pwrite(SafeFileHandle fd, ref byte buffer, nuint count, long offset);
}
