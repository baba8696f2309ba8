using PluginVmm.Sdk.Memory;

namespace PluginVmm.Sdk.Testing;

/// <summary>
/// An <see cref="IGuestMemoryControl"/> over an <see cref="InMemoryGuestMemory"/> that keeps the core's contract
/// (EINVAL for a range that is not a page range wholly inside RAM, EPERM for an mprotect taking access away) and
/// records every call that passed those checks. DontNeed and Remove zero the bytes, as the host does for anonymous
/// RAM; <see cref="HostErrno"/> makes the "host" fail calls.
/// </summary>
public sealed class FakeGuestMemoryControl(InMemoryGuestMemory memory, ulong pageSize = 4096) : IGuestMemoryControl
{
    /// <summary>Calls that reached the "host": (operation, address, length, detail).</summary>
    public List<(string Operation, ulong Address, ulong Length, string? Detail)> Calls { get; } = [];

    /// <summary>When set, returns the errno the "host" fails an operation with (0 for success).</summary>
    public Func<string, int>? HostErrno { get; set; }

    /// <inheritdoc/>
    public ulong PageSize { get; } = pageSize;

    /// <inheritdoc/>
    public int Advise(ulong address, ulong length, GuestMemoryAdvice advice)
    {
        int rc = Host($"madvise:{advice}", address, length, null);
        if (rc == 0 && advice is GuestMemoryAdvice.DontNeed or GuestMemoryAdvice.Remove)
            memory.GetSpan(address, checked((int)length)).Clear();
        return rc;
    }

    /// <inheritdoc/>
    public int SetName(ulong address, ulong length, string? name) => Host("name", address, length, name);

    /// <inheritdoc/>
    public int Lock(ulong address, ulong length, bool onFault) => Host("mlock", address, length, onFault ? "onfault" : null);

    /// <inheritdoc/>
    public int Unlock(ulong address, ulong length) => Host("munlock", address, length, null);

    /// <inheritdoc/>
    public int Protect(ulong address, ulong length, GuestMemoryProtection protection)
    {
        if (!InRam(address, length)) return GuestErrno.EINVAL;
        if (protection != GuestMemoryProtection.ReadWrite) return GuestErrno.EPERM;
        return Host("mprotect", address, length, protection.ToString());
    }

    private bool InRam(ulong address, ulong length) =>
        GuestPageRange.IsValid(address, length, PageSize) && memory.Contains(address, length);

    private int Host(string operation, ulong address, ulong length, string? detail)
    {
        if (!InRam(address, length)) return GuestErrno.EINVAL;
        int rc = HostErrno?.Invoke(operation) ?? 0;
        if (rc == 0) Calls.Add((operation, address, length, detail));
        return rc;
    }
}
