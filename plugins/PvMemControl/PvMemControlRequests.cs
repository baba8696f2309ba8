using System.Buffers.Binary;
using System.Globalization;
using PluginVmm.Sdk.Memory;
using static PluginVmm.Plugins.PvMemControl.PvMemControlProtocol;

namespace PluginVmm.Plugins.PvMemControl;

/// <summary>A response: {ret_errno u32, ret_code u32, ret_value u64, arg0 u64, arg1 u64}, little endian.</summary>
internal readonly record struct PvMemControlResponse(uint Errno, uint Code, ulong Value = 0, ulong Arg0 = 0, ulong Arg1 = 0)
{
    public void WriteTo(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(b, Errno);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], Code);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], Value);
        BinaryPrimitives.WriteUInt64LittleEndian(b[16..], Arg0);
        BinaryPrimitives.WriteUInt64LittleEndian(b[24..], Arg1);
    }
}

/// <summary>
/// Executes one request {func_code, addr, length, arg} on the host backing of guest RAM. Errors: EOPNOTSUPP for an
/// unknown function code, EINVAL for a range that is empty, not page aligned, wrapping or not wholly inside guest RAM
/// (checked here and again by the core), EPERM for an mprotect that would take access away (see
/// <see cref="IGuestMemoryControl.Protect"/>), ENOSYS when the host gives no <see cref="IGuestMemoryControl"/>, and the
/// host's errno otherwise. An error response carries the function code (low 32 bits) in ret_code.
/// </summary>
internal sealed class PvMemControlRequests(IGuestMemory memory, IGuestMemoryControl? control)
{
    private readonly ulong _pageSize = control?.PageSize ?? 4096;

    public PvMemControlResponse Execute(ulong function, ulong address, ulong length, ulong arg)
    {
        if (function > (ulong)PvMemControlFunction.Unmergeable) return Fail(GuestErrno.EOPNOTSUPP, function);
        var f = (PvMemControlFunction)function;
        if (f == PvMemControlFunction.Info)
            return new PvMemControlResponse(0, 0, _pageSize, MajorVersion, MinorVersion);
        if (control is null) return Fail(GuestErrno.ENOSYS, function);
        if (!GuestPageRange.IsValid(address, length, _pageSize) || !memory.Contains(address, length))
            return Fail(GuestErrno.EINVAL, function);

        int errno = f switch
        {
            PvMemControlFunction.DontNeed => control.Advise(address, length, GuestMemoryAdvice.DontNeed),
            PvMemControlFunction.Remove => control.Advise(address, length, GuestMemoryAdvice.Remove),
            PvMemControlFunction.Free => control.Advise(address, length, GuestMemoryAdvice.Free),
            PvMemControlFunction.PageOut => control.Advise(address, length, GuestMemoryAdvice.PageOut),
            PvMemControlFunction.DontDump => control.Advise(address, length, GuestMemoryAdvice.DontDump),
            // The name's number is the guest's arg in decimal; arg 0 clears the name.
            PvMemControlFunction.SetVmaAnonName => control.SetName(address, length,
                arg == 0 ? null : "pvmemcontrol-" + arg.ToString(CultureInfo.InvariantCulture)),
            // mlock2 without MLOCK_ONFAULT, as cloud-hypervisor: arg is ignored.
            PvMemControlFunction.Mlock => control.Lock(address, length, onFault: false),
            PvMemControlFunction.Munlock => control.Unlock(address, length),
            PvMemControlFunction.MprotectNone => control.Protect(address, length, GuestMemoryProtection.None),
            PvMemControlFunction.MprotectRead => control.Protect(address, length, GuestMemoryProtection.Read),
            PvMemControlFunction.MprotectWrite => control.Protect(address, length, GuestMemoryProtection.Write),
            PvMemControlFunction.MprotectReadWrite => control.Protect(address, length, GuestMemoryProtection.ReadWrite),
            PvMemControlFunction.Mergeable => control.Advise(address, length, GuestMemoryAdvice.Mergeable),
            _ => control.Advise(address, length, GuestMemoryAdvice.Unmergeable),
        };
        return errno == 0 ? new PvMemControlResponse(0, 0) : Fail(errno, function);
    }

    private static PvMemControlResponse Fail(int errno, ulong function) => new((uint)errno, (uint)function);
}
