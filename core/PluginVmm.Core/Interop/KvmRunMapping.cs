namespace PluginVmm.Core.Interop;

/// <summary>
/// The vCPU's mmap'd struct kvm_run. Only the vCPU's own thread reads or writes it while the vCPU exists;
/// every span handed out is bounds-checked against the mapping.
/// </summary>
internal sealed unsafe class KvmRunMapping : IDisposable
{
    private readonly int _size;
    private KvmRun* _run;

    public KvmRunMapping(FileDescriptor vcpu, int size)
    {
        if (size < sizeof(KvmRun) + 64) throw new ArgumentOutOfRangeException(nameof(size), $"kvm_run mmap size {size} is too small");
        // SAFETY: KVM defines the vcpu fd mapping of KVM_GET_VCPU_MMAP_SIZE bytes at offset 0.
        void* p = LibC.Mmap(null, (nuint)size, LibC.PROT_READ | LibC.PROT_WRITE, LibC.MAP_SHARED, vcpu.Fd, 0);
        if ((nint)p == LibC.MAP_FAILED) throw ErrnoException.FromLastError("mmap kvm_run");
        _run = (KvmRun*)p;
        _size = size;
    }

    private KvmRun* Run => _run != null ? _run : throw new ObjectDisposedException(nameof(KvmRunMapping));

    public KvmExitReason ExitReason => (KvmExitReason)Run->ExitReason;

    public bool ImmediateExit
    {
        get => Volatile.Read(ref Run->ImmediateExit) != 0;
        set => Volatile.Write(ref Run->ImmediateExit, value ? (byte)1 : (byte)0);
    }

    public bool IoIsWrite => Run->IoDirection == KvmRun.IoDirectionOut;
    public ushort IoPort => Run->IoPort;
    public int IoSize => Run->IoSize;
    public int IoCount => (int)Run->IoCount;

    /// <summary>The data area of an IO exit (size × count bytes), checked against the mapping.</summary>
    public Span<byte> IoData
    {
        get
        {
            var r = Run;
            ulong length = (ulong)r->IoSize * r->IoCount;
            if (r->IoDataOffset > (ulong)_size || length > (ulong)_size - r->IoDataOffset)
                throw new InvalidOperationException($"kvm_run io data at 0x{r->IoDataOffset:x}+{length} is outside the mapping");
            // SAFETY: the range was just checked against the mapping size.
            return new Span<byte>((byte*)r + r->IoDataOffset, (int)length);
        }
    }

    public ulong MmioAddress => Run->MmioPhysAddr;
    public bool MmioIsWrite => Run->MmioIsWrite != 0;

    /// <summary>The data of an MMIO exit (len ≤ 8 bytes).</summary>
    public Span<byte> MmioData
    {
        get
        {
            var r = Run;
            int len = (int)Math.Min(r->MmioLen, 8u);
            // SAFETY: the 8-byte data array is inside struct kvm_run.
            return new Span<byte>(r->MmioData, len);
        }
    }

    public uint InternalSuberror => Run->InternalSuberror;
    public ulong FailEntryReason => Run->FailEntryHardwareReason;
    public uint SystemEventType => Run->SystemEventType;

    public void Dispose()
    {
        if (_run == null) return;
        _ = LibC.Munmap(_run, (nuint)_size);
        _run = null;
    }
}
