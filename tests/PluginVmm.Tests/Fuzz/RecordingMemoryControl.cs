using PluginVmm.Sdk.Memory;
using PluginVmm.Sdk.Testing;

namespace PluginVmm.Tests.Fuzz;

/// <summary>
/// The host's guest-memory control for the pvmemcontrol fuzzer: unlike <see cref="FakeGuestMemoryControl"/> it checks
/// nothing itself, so whatever range the device passes is recorded as it came (a range outside RAM here is a device
/// bug, not an EINVAL). DontNeed and Remove zero the range, as the host does for anonymous RAM; <see cref="NextErrno"/>
/// makes the next call fail as the host might.
/// </summary>
public sealed class RecordingMemoryControl(InMemoryGuestMemory memory) : IGuestMemoryControl
{
    public List<(string Operation, ulong Address, ulong Length)> Calls { get; } = [];

    /// <summary>Errno the next call returns (then back to 0).</summary>
    public int NextErrno { get; set; }

    public ulong PageSize => 4096;

    public int Advise(ulong address, ulong length, GuestMemoryAdvice advice)
    {
        int rc = Record($"madvise:{advice}", address, length);
        if (rc == 0 && advice is GuestMemoryAdvice.DontNeed or GuestMemoryAdvice.Remove && memory.Contains(address, length))
            memory.GetSpan(address, (int)length).Clear();
        return rc;
    }

    public int SetName(ulong address, ulong length, string? name) => Record("name", address, length);

    public int Lock(ulong address, ulong length, bool onFault) => Record("mlock", address, length);

    public int Unlock(ulong address, ulong length) => Record("munlock", address, length);

    public int Protect(ulong address, ulong length, GuestMemoryProtection protection) => Record($"mprotect:{protection}", address, length);

    private int Record(string operation, ulong address, ulong length)
    {
        Calls.Add((operation, address, length));
        int rc = NextErrno;
        NextErrno = 0;
        return rc;
    }
}
