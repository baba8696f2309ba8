using Xunit;

namespace PluginVmm.Tests.Kvm;

/// <summary>
/// The pvmemtest tiny guest drives pvmemcontrol under the built `vmm` host: the transport handshake, Info,
/// DONTNEED really dropping a page of guest RAM on the host, and refused requests answering errors.
/// </summary>
public sealed class PvMemControlGuestTests : IDisposable
{
    private const int GuestOk = (0x10 << 1) | 1;
    private readonly Config.TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [GuestFact]
    public void Guest_registers_a_buffer_and_dontneed_zeroes_a_page_while_bad_requests_get_errors()
    {
        var run = PcitestRun.Boot(_dir, "", "[[device]]\nkind = \"pvmemcontrol\"\n", guest: "pvmemtest");
        string[] expected =
        [
            "reset acked", "register acked", "connection id is 0x80000000", "ready acked", "info", "pattern written",
            "dontneed page reads zero", "outside ram refused with EINVAL", "unaligned refused with EINVAL",
            "unknown function refused with EOPNOTSUPP", "mprotect none refused with EPERM", "page still usable",
        ];
        Assert.True(expected.Select(w => (true, w)).SequenceEqual(run.Checks()), run.Result.ToString());
        var lines = run.Serial.Split('\n');
        Assert.Contains("PVMEM info errno 00 page-size 0x00001000 version 1.0", lines);
        Assert.Contains("PVMEM dontneed errno 00 nonzero-dwords 0x00000000", lines);
        Assert.Contains("PVMEM outside-ram errno 16 code 0x00000001", lines); // EINVAL (22), function DONTNEED
        Assert.Equal(GuestOk, run.Result.ExitCode);
    }
}
