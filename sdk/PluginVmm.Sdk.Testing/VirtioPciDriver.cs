using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Pci;
using PluginVmm.Sdk.Virtio;

namespace PluginVmm.Sdk.Testing;

/// <summary>
/// A guest-side modern virtio-pci driver doing what Linux's virtio_pci_modern does: find the virtio capabilities,
/// program BAR0, reset, ACKNOWLEDGE | DRIVER, negotiate features and read FEATURES_OK back, set up queues (size,
/// ring addresses as 32-bit halves, MSI-X vector with read-back, enable), DRIVER_OK, then kick queues and read
/// device config. Kicks go through the device's ioeventfd when <see cref="FakeBarResources"/> has one (as KVM would
/// signal it), else as a BAR write (an MMIO exit).
/// </summary>
public sealed class VirtioPciDriver
{
    /// <summary>Where the driver places BAR0.</summary>
    public const ulong Bar0Address = 0x80_0000_0000;

    /// <summary>MSI address every vector is programmed with (LAPIC 0).</summary>
    public const ulong MsiAddress = 0xFEE0_0000;

    private readonly FakeBarResources? _resources;

    /// <summary>Discovers the device's layout and programs BAR0 with memory decoding on.</summary>
    public VirtioPciDriver(IPciDevice device, IGuestMemory memory, FakeBarResources? resources = null)
    {
        Pci = new PciConfigDriver(device);
        Memory = memory;
        _resources = resources;
        Bar0Size = Pci.ProbeBarSize(0);
        Pci.ProgramBar(0, Bar0Address);
        Pci.EnableMemoryAndBusMaster();
        foreach (var (offset, id) in Pci.Capabilities())
        {
            if (id != PciCapabilities.VendorId) continue;
            byte type = Pci.Read8(offset + 3);
            uint at = Pci.Read32(offset + 8), length = Pci.Read32(offset + 12);
            switch (type)
            {
                case VirtioPciLayout.CommonCfg: CommonOffset = at; break;
                case VirtioPciLayout.IsrCfg: IsrOffset = at; break;
                case VirtioPciLayout.DeviceCfg: DeviceOffset = at; DeviceLength = length; break;
                case VirtioPciLayout.NotifyCfg: NotifyOffset = at; NotifyMultiplier = Pci.Read32(offset + 16); break;
            }
        }
        MsixCapability = Pci.FindCapability(PciCapabilities.MsixId);
        MsixVectors = MsixCapability < 0 ? 0 : (Pci.Read16(MsixCapability + 2) & 0x7FF) + 1;
    }

    /// <summary>Config-space access.</summary>
    public PciConfigDriver Pci { get; }

    /// <summary>Guest RAM.</summary>
    public IGuestMemory Memory { get; }

    /// <summary>Size of BAR0 as probed.</summary>
    public ulong Bar0Size { get; }

    /// <summary>Structure offsets inside BAR0, from the capabilities.</summary>
    public uint CommonOffset { get; } = uint.MaxValue;

    /// <summary>ISR offset.</summary>
    public uint IsrOffset { get; } = uint.MaxValue;

    /// <summary>Device config offset and length.</summary>
    public uint DeviceOffset { get; } = uint.MaxValue;

    /// <summary>Device config length.</summary>
    public uint DeviceLength { get; }

    /// <summary>Notify region offset.</summary>
    public uint NotifyOffset { get; } = uint.MaxValue;

    /// <summary>notify_off_multiplier.</summary>
    public uint NotifyMultiplier { get; }

    /// <summary>MSI-X capability offset (-1: none).</summary>
    public int MsixCapability { get; }

    /// <summary>MSI-X table size.</summary>
    public int MsixVectors { get; }

    /// <summary>Reads a common-config field.</summary>
    public ulong ReadCommon(uint offset, int size) => Pci.BarRead(0, CommonOffset + offset, size);

    /// <summary>Writes a common-config field.</summary>
    public void WriteCommon(uint offset, ulong value, int size) => Pci.BarWrite(0, CommonOffset + offset, value, size);

    /// <summary>device_status.</summary>
    public byte Status
    {
        get => (byte)ReadCommon(0x14, 1);
        set => WriteCommon(0x14, value, 1);
    }

    /// <summary>The 64 offered feature bits.</summary>
    public ulong DeviceFeatures()
    {
        WriteCommon(0x00, 0, 4);
        ulong low = ReadCommon(0x04, 4);
        WriteCommon(0x00, 1, 4);
        return low | ReadCommon(0x04, 4) << 32;
    }

    /// <summary>Writes the driver features (both halves).</summary>
    public void WriteDriverFeatures(ulong features)
    {
        WriteCommon(0x08, 0, 4);
        WriteCommon(0x0C, (uint)features, 4);
        WriteCommon(0x08, 1, 4);
        WriteCommon(0x0C, features >> 32, 4);
    }

    /// <summary>
    /// Reset, ACKNOWLEDGE, DRIVER, accept <paramref name="features"/> (intersected with the offer unless
    /// <paramref name="force"/>), FEATURES_OK; returns whether FEATURES_OK read back set.
    /// </summary>
    public bool Negotiate(ulong features, bool force = false)
    {
        Status = 0;
        Status = VirtioStatus.Acknowledge;
        Status = VirtioStatus.Acknowledge | VirtioStatus.Driver;
        ulong offered = DeviceFeatures();
        WriteDriverFeatures(force ? features : features & offered);
        Status = VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk;
        return (Status & VirtioStatus.FeaturesOk) != 0;
    }

    /// <summary>Programs MSI-X entries 0..n-1 (address <see cref="MsiAddress"/>, data 0x40 + i, unmasked) and enables MSI-X.</summary>
    public void EnableMsix()
    {
        for (int i = 0; i < MsixVectors; i++)
        {
            ulong entry = VirtioPciLayout.MsixTableOffset + 16UL * (ulong)i;
            Pci.BarWrite(0, entry, MsiAddress, 4);
            Pci.BarWrite(0, entry + 4, 0, 4);
            Pci.BarWrite(0, entry + 8, 0x40 + (ulong)i, 4);
            Pci.BarWrite(0, entry + 12, 0, 4);
        }
        Pci.SetMsix(enable: true);
    }

    /// <summary>Sets config_msix_vector and returns what reads back.</summary>
    public ushort SetConfigVector(ushort vector)
    {
        WriteCommon(0x10, vector, 2);
        return (ushort)ReadCommon(0x10, 2);
    }

    /// <summary>Number of queues the device reports.</summary>
    public int NumQueues => (int)ReadCommon(0x12, 2);

    /// <summary>Selects queue <paramref name="queue"/> and returns its maximum size.</summary>
    public ushort QueueMaxSize(int queue)
    {
        WriteCommon(0x16, (ulong)queue, 2);
        return (ushort)ReadCommon(0x18, 2);
    }

    /// <summary>
    /// Sets up queue <paramref name="queue"/> with <paramref name="size"/> entries at <paramref name="ringBase"/> and
    /// MSI-X vector <paramref name="vector"/>; returns the guest-side queue and the vector read back.
    /// </summary>
    public (GuestVirtqueue Queue, ushort Vector) SetupQueue(int queue, ushort size, ulong ringBase, ushort vector, bool enable = true)
    {
        WriteCommon(0x16, (ulong)queue, 2);
        WriteCommon(0x18, size, 2);
        var q = new GuestVirtqueue(Memory, size, ringBase);
        WriteAddress(0x20, q.Desc);
        WriteAddress(0x28, q.Avail);
        WriteAddress(0x30, q.Used);
        WriteCommon(0x1A, vector, 2);
        ushort readBack = (ushort)ReadCommon(0x1A, 2);
        if (enable) WriteCommon(0x1C, 1, 2);
        return (q, readBack);
    }

    private void WriteAddress(uint field, ulong address)
    {
        WriteCommon(field, (uint)address, 4);
        WriteCommon(field + 4, address >> 32, 4);
    }

    /// <summary>Sets DRIVER_OK.</summary>
    public void DriverOk() => Status = (byte)(Status | VirtioStatus.DriverOk);

    /// <summary>Notifies queue <paramref name="queue"/>: through its ioeventfd when there is one, else a BAR write.</summary>
    public void Kick(int queue, bool forceMmio = false)
    {
        ulong offset = NotifyOffset + (ulong)queue * NotifyMultiplier;
        if (!forceMmio && _resources is not null && _resources.SignalWrite(0, offset, (ulong)queue)) return;
        Pci.BarWrite(0, offset, (ulong)queue, 2);
    }

    /// <summary>Reads the ISR byte (clears it).</summary>
    public byte ReadIsr() => (byte)Pci.BarRead(0, IsrOffset, 1);

    /// <summary>Reads device config.</summary>
    public ulong ReadDeviceConfig(uint offset, int size) => Pci.BarRead(0, DeviceOffset + offset, size);

    /// <summary>Copies <paramref name="length"/> bytes of device config, byte by byte.</summary>
    public byte[] ReadDeviceConfigBytes(uint offset, int length)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++) bytes[i] = (byte)ReadDeviceConfig(offset + (uint)i, 1);
        return bytes;
    }
}
