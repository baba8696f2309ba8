using PluginVmm.Core.Interop;

namespace PluginVmm.Core.Kvm;

/// <summary>/dev/kvm: API version, capabilities, supported CPUID; creates VMs.</summary>
public sealed class KvmSystem : IDisposable
{
    /// <summary>The only stable KVM API version.</summary>
    public const int ExpectedApiVersion = 12;

    private readonly FileDescriptor _fd;
    private KvmCpuidEntry2[]? _cpuid;

    private KvmSystem(FileDescriptor fd)
    {
        _fd = fd;
        ApiVersion = KvmNative.Call(_fd, KvmIoctls.GetApiVersion, 0, "KVM_GET_API_VERSION");
        if (ApiVersion != ExpectedApiVersion)
            throw new NotSupportedException($"/dev/kvm reports API version {ApiVersion}, expected {ExpectedApiVersion}");
        VcpuMmapSize = KvmNative.Call(_fd, KvmIoctls.GetVcpuMmapSize, 0, "KVM_GET_VCPU_MMAP_SIZE");
    }

    /// <summary>Opens <paramref name="path"/> (default /dev/kvm) and checks the API version.</summary>
    public static KvmSystem Open(string path = "/dev/kvm")
    {
        int fd = LibC.Open(path, LibC.O_RDWR | LibC.O_CLOEXEC, 0);
        if (fd < 0) throw ErrnoException.FromLastError($"open {path}");
        var owned = new FileDescriptor(fd);
        try { return new KvmSystem(owned); }
        catch { owned.Dispose(); throw; }
    }

    /// <summary>KVM_GET_API_VERSION (12).</summary>
    public int ApiVersion { get; }

    /// <summary>Size of the per-vCPU kvm_run mapping.</summary>
    public int VcpuMmapSize { get; }

    internal FileDescriptor Handle => _fd;

    /// <summary>KVM_CHECK_EXTENSION: 0 when unsupported, else a capability-specific positive value.</summary>
    public int CheckExtension(int capability) =>
        KvmNative.TryCall(_fd, KvmIoctls.CheckExtension, capability, out _) is var r && r > 0 ? r : 0;

    /// <summary>KVM_GET_SUPPORTED_CPUID (cached; callers get a copy).</summary>
    public KvmCpuidEntry2[] GetSupportedCpuid() => (_cpuid ??= KvmNative.GetSupportedCpuid(_fd)).ToArray();

    /// <summary>Guest physical address bits from CPUID 0x80000008 EAX[7:0] (36 when absent).</summary>
    public int PhysAddressBits()
    {
        foreach (var e in GetSupportedCpuid())
            if (e.Function == 0x8000_0008 && (e.Eax & 0xFF) != 0) return (int)(e.Eax & 0xFF);
        return 36;
    }

    /// <inheritdoc/>
    public void Dispose() => _fd.Dispose();
}
