using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using PluginVmm.Plugins.Vfio.Interop;
using PluginVmm.Sdk.Memory;

namespace PluginVmm.Plugins.Vfio;

/// <summary>
/// A host PCI function opened through Linux VFIO type1: container (/dev/vfio/vfio), the function's IOMMU group
/// (/dev/vfio/N from the sysfs iommu_group link), the device fd, its regions and IRQ counts, and the DMA mappings of
/// guest RAM (iova = guest physical address). <see cref="Open"/> throws <see cref="VfioSetupException"/> with a
/// message that names the host address and what to do; after that every operation answers false on failure.
/// </summary>
internal sealed class VfioHostFunction : IVfioFunction
{
    private readonly SafeFileHandle _container, _group, _device;
    private readonly VfioRegion[] _regions;
    private readonly int[] _irqCounts;
    private readonly List<(ulong Iova, ulong Size)> _dma = [];

    private VfioHostFunction(string address, SafeFileHandle container, SafeFileHandle group, SafeFileHandle device,
        VfioRegion[] regions, int[] irqCounts)
    {
        Address = address;
        _container = container;
        _group = group;
        _device = device;
        _regions = regions;
        _irqCounts = irqCounts;
    }

    /// <inheritdoc/>
    public string Address { get; }

    /// <inheritdoc/>
    public int DeviceFd => (int)_device.DangerousGetHandle();

    /// <summary>Opens host function <paramref name="address"/> (bound to vfio-pci) and maps <paramref name="ram"/> for its DMA.</summary>
    public static VfioHostFunction Open(string address, IReadOnlyList<GuestRamMapping> ram)
    {
        var host = new HostPciDevice(address);
        if (!host.Exists) throw new VfioSetupException($"no host PCI device {address} (nothing at {host.SysfsPath})");
        if (host.Driver != "vfio-pci")
            throw new VfioSetupException($"host device {address} is bound to '{host.Driver ?? "no driver"}', not vfio-pci: " +
                $"echo vfio-pci > {host.SysfsPath}/driver_override; echo {address} > /sys/bus/pci/drivers_probe " +
                "(after unbinding it from its driver)");
        string group = host.IommuGroup ?? throw new VfioSetupException(
            $"host device {address} has no IOMMU group ({host.SysfsPath}/iommu_group): enable the IOMMU (intel_iommu=on / amd_iommu=on)");
        var handles = new List<SafeFileHandle>();
        try
        {
            var container = OpenFile("/dev/vfio/vfio", address, handles);
            int version = VfioNative.Ioctl(container, VfioNative.GetApiVersion, 0);
            if (version != VfioNative.ApiVersion) throw new VfioSetupException($"{address}: VFIO API version {version}, expected {VfioNative.ApiVersion}");
            uint iommu = VfioNative.Ioctl(container, VfioNative.CheckExtension, VfioNative.Type1v2Iommu) > 0 ? VfioNative.Type1v2Iommu
                : VfioNative.Ioctl(container, VfioNative.CheckExtension, VfioNative.Type1Iommu) > 0 ? VfioNative.Type1Iommu
                : throw new VfioSetupException($"{address}: the VFIO container offers no type1 IOMMU (load vfio_iommu_type1)");

            var groupFd = OpenFile($"/dev/vfio/{group}", address, handles);
            var status = Args(8);
            Check(VfioNative.Ioctl(groupFd, VfioNative.GroupGetStatus, status), address, "VFIO_GROUP_GET_STATUS");
            if ((U32(status, 4) & VfioNative.GroupFlagsViable) == 0)
                throw new VfioSetupException($"IOMMU group {group} of {address} is not viable: every device in " +
                    $"/sys/kernel/iommu_groups/{group}/devices must be bound to vfio-pci (or to no driver)");
            int containerFd = (int)container.DangerousGetHandle();
            Check(VfioNative.Ioctl(groupFd, VfioNative.GroupSetContainer, ref containerFd), address, "VFIO_GROUP_SET_CONTAINER");
            Check(VfioNative.Ioctl(container, VfioNative.SetIommu, iommu), address, $"VFIO_SET_IOMMU type {iommu}");

            byte[] name = Encoding.ASCII.GetBytes(address + "\0");
            int fd = VfioNative.Ioctl(groupFd, VfioNative.GroupGetDeviceFd, name);
            Check(fd, address, "VFIO_GROUP_GET_DEVICE_FD");
            var device = new SafeFileHandle(fd, ownsHandle: true);
            handles.Add(device);

            var info = Args(24);
            Check(VfioNative.Ioctl(device, VfioNative.DeviceGetInfo, info), address, "VFIO_DEVICE_GET_INFO");
            if ((U32(info, 4) & VfioNative.DeviceFlagsPci) == 0) throw new VfioSetupException($"{address}: VFIO reports no PCI device");
            int regionCount = (int)U32(info, 8), irqCount = (int)U32(info, 12);
            var regions = new VfioRegion[VfioRegion.Config + 1];
            for (int i = 0; i < regions.Length; i++)
                regions[i] = i < regionCount ? RegionInfo(device, i, address) : VfioRegion.Absent(i);
            if (regions[VfioRegion.Config].Size < 256 || !regions[VfioRegion.Config].Readable)
                throw new VfioSetupException($"{address}: VFIO offers no readable config region");
            var irqs = new int[3];
            for (int i = 0; i < irqs.Length && i < irqCount; i++)
            {
                var irq = Args(16);
                BinaryPrimitives.WriteUInt32LittleEndian(irq.AsSpan(8), (uint)i);
                Check(VfioNative.Ioctl(device, VfioNative.DeviceGetIrqInfo, irq), address, $"VFIO_DEVICE_GET_IRQ_INFO {i}");
                irqs[i] = (U32(irq, 4) & 1) != 0 ? (int)U32(irq, 12) : 0; // only eventfd-capable indices are usable
            }
            var function = new VfioHostFunction(address, container, groupFd, device, regions, irqs);
            try
            {
                foreach (var r in ram) function.MapDma(r);
            }
            catch
            {
                function.Dispose();
                throw;
            }
            return function;
        }
        catch
        {
            foreach (var h in handles) h.Dispose();
            throw;
        }
    }

    private void MapDma(GuestRamMapping r)
    {
        var map = Args(32);
        BinaryPrimitives.WriteUInt32LittleEndian(map.AsSpan(4), VfioNative.DmaMapRead | VfioNative.DmaMapWrite);
        BinaryPrimitives.WriteUInt64LittleEndian(map.AsSpan(8), (ulong)r.HostAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(map.AsSpan(16), r.GuestAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(map.AsSpan(24), r.Size);
        Check(VfioNative.Ioctl(_container, VfioNative.IommuMapDma, map), Address,
            $"VFIO_IOMMU_MAP_DMA of guest RAM 0x{r.GuestAddress:x}+0x{r.Size:x} (pinning needs RLIMIT_MEMLOCK or CAP_IPC_LOCK)");
        _dma.Add((r.GuestAddress, r.Size));
    }

    private static VfioRegion RegionInfo(SafeFileHandle device, int index, string address)
    {
        int size = VfioNative.RegionInfoSize;
        for (int attempt = 0; ; attempt++)
        {
            var info = Args(size);
            BinaryPrimitives.WriteUInt32LittleEndian(info.AsSpan(8), (uint)index);
            Check(VfioNative.Ioctl(device, VfioNative.DeviceGetRegionInfo, info), address, $"VFIO_DEVICE_GET_REGION_INFO {index}");
            uint wanted = VfioRegion.RequiredSize(info);
            // the capability chain (sparse mmap areas) did not fit: ask again with the size the kernel named
            if (wanted > size && wanted <= 64 * 1024 && attempt == 0) { size = (int)wanted; continue; }
            return VfioRegion.Parse(info);
        }
    }

    /// <inheritdoc/>
    public VfioRegion Region(int index) => (uint)index < (uint)_regions.Length ? _regions[index] : VfioRegion.Absent(index);

    /// <inheritdoc/>
    public int IrqCount(int irqIndex) => (uint)irqIndex < (uint)_irqCounts.Length ? _irqCounts[irqIndex] : 0;

    /// <inheritdoc/>
    public bool Read(VfioRegion region, ulong offset, Span<byte> data)
    {
        if (!InRegion(region, offset, data.Length) || !region.Readable) return false;
        return VfioNative.Pread(_device, ref MemoryMarshal.GetReference(data), (nuint)data.Length, region.Offset + (long)offset) == data.Length;
    }

    /// <inheritdoc/>
    public bool Write(VfioRegion region, ulong offset, ReadOnlySpan<byte> data)
    {
        if (!InRegion(region, offset, data.Length) || !region.Writable) return false;
        return VfioNative.Pwrite(_device, ref MemoryMarshal.GetReference(data), (nuint)data.Length, region.Offset + (long)offset) == data.Length;
    }

    /// <inheritdoc/>
    public bool SetIrqEventFds(int irqIndex, IReadOnlyList<int> eventFds)
    {
        var set = Args(20 + 4 * eventFds.Count);
        uint flags = VfioNative.IrqSetActionTrigger | (eventFds.Count == 0 ? VfioNative.IrqSetDataNone : VfioNative.IrqSetDataEventFd);
        BinaryPrimitives.WriteUInt32LittleEndian(set.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt32LittleEndian(set.AsSpan(8), (uint)irqIndex);
        BinaryPrimitives.WriteUInt32LittleEndian(set.AsSpan(16), (uint)eventFds.Count); // start 0, count
        for (int i = 0; i < eventFds.Count; i++) BinaryPrimitives.WriteInt32LittleEndian(set.AsSpan(20 + 4 * i), eventFds[i]);
        return VfioNative.Ioctl(_device, VfioNative.DeviceSetIrqs, set) == 0;
    }

    /// <summary>Unmaps guest RAM from the IOMMU and closes device, group and container (the group leaves the container).</summary>
    public void Dispose()
    {
        if (_device.IsClosed) return;
        foreach (var (iova, size) in _dma)
        {
            var unmap = Args(24);
            BinaryPrimitives.WriteUInt64LittleEndian(unmap.AsSpan(8), iova);
            BinaryPrimitives.WriteUInt64LittleEndian(unmap.AsSpan(16), size);
            _ = VfioNative.Ioctl(_container, VfioNative.IommuUnmapDma, unmap);
        }
        _dma.Clear();
        _device.Dispose();
        _group.Dispose();
        _container.Dispose();
    }

    private static bool InRegion(VfioRegion region, ulong offset, int length) =>
        length > 0 && offset < region.Size && (ulong)length <= region.Size - offset;

    private static SafeFileHandle OpenFile(string path, string address, List<SafeFileHandle> handles)
    {
        try
        {
            var h = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite);
            handles.Add(h);
            return h;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VfioSetupException($"{address}: cannot open {path}: {e.Message} " +
                "(load vfio, vfio_iommu_type1 and vfio-pci; run as root or with access to /dev/vfio)");
        }
    }

    private static byte[] Args(int size)
    {
        var b = new byte[size];
        BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)size);
        return b;
    }

    private static uint U32(byte[] b, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(offset));

    private static void Check(int result, string address, string what)
    {
        if (result < 0)
            throw new VfioSetupException($"{address}: {what} failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
    }
}

/// <summary>A host function cannot be passed through; the message says which and what to do.</summary>
internal sealed class VfioSetupException(string message) : Exception(message);
