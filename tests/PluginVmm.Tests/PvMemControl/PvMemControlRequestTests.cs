using PluginVmm.Sdk.Memory;
using Xunit;
using static PluginVmm.Tests.PvMemControl.PvMemControlBench;

namespace PluginVmm.Tests.PvMemControl;

/// <summary>Requests through a registered buffer: function codes, the range rule, errno mapping, hostile values.</summary>
public sealed class PvMemControlRequestTests
{
    private const ulong Page = RamBase + 0x4000;

    [Fact]
    public void Info_reports_host_page_size_and_version_1_0()
    {
        var b = new PvMemControlBench();
        Assert.Equal(new Response(0, 0, 4096, 1, 0), b.Request(b.Connect(), 0, 0xdead, 0xbeef, 0xf00d));
    }

    [Fact]
    public void Dontneed_zeroes_the_page_and_answers_success()
    {
        var b = new PvMemControlBench();
        uint id = b.Connect();
        b.Memory.GetSpan(Page, 4096).Fill(0xA5);
        b.Memory.GetSpan(Page + 4096, 1)[0] = 0x5A;
        Assert.Equal(new Response(0, 0, 0, 0, 0), b.Request(id, 1, Page, 4096));
        Assert.True(b.Memory.GetSpan(Page, 4096).IndexOfAnyExcept((byte)0) < 0);
        Assert.Equal(0x5A, b.Memory.GetSpan(Page + 4096, 1)[0]); // the next page is untouched
        Assert.Equal([("madvise:DontNeed", Page, 4096UL, (string?)null)], b.Control.Calls);
    }

    [Theory]
    [InlineData(1, "madvise:DontNeed", null)]
    [InlineData(2, "madvise:Remove", null)]
    [InlineData(3, "madvise:Free", null)]
    [InlineData(4, "madvise:PageOut", null)]
    [InlineData(5, "madvise:DontDump", null)]
    [InlineData(6, "name", "pvmemcontrol-42")]
    [InlineData(7, "mlock", null)]
    [InlineData(8, "munlock", null)]
    [InlineData(12, "mprotect", "ReadWrite")]
    [InlineData(13, "madvise:Mergeable", null)]
    [InlineData(14, "madvise:Unmergeable", null)]
    public void Each_function_code_reaches_its_host_operation_on_the_requested_range(ulong code, string operation, string? detail)
    {
        var b = new PvMemControlBench();
        Assert.Equal(new Response(0, 0, 0, 0, 0), b.Request(b.Connect(), code, Page, 0x3000, 42));
        Assert.Equal([(operation, Page, 0x3000UL, detail)], b.Control.Calls);
    }

    [Fact]
    public void Set_vma_anon_name_with_arg_0_clears_the_name()
    {
        var b = new PvMemControlBench();
        Assert.Equal(0u, b.Request(b.Connect(), 6, Page, 4096, 0).Errno);
        Assert.Equal([("name", Page, 4096UL, (string?)null)], b.Control.Calls);
    }

    [Theory]
    [InlineData(9)]
    [InlineData(10)]
    [InlineData(11)]
    public void Mprotect_taking_access_away_is_refused_with_eperm(ulong code)
    {
        var b = new PvMemControlBench();
        Assert.Equal(new Response(1, (uint)code, 0, 0, 0), b.Request(b.Connect(), code, Page, 4096));
        Assert.Empty(b.Control.Calls);
    }

    public static TheoryData<ulong, ulong> HostileRanges => new()
    {
        { Page + 1, 4096 },                               // address not page aligned
        { Page, 4095 },                                   // length not page aligned
        { Page, 0 },                                      // empty
        { RamBase - 4096, 4096 },                         // below RAM
        { RamBase + RamSize - 4096, 8192 },               // runs past the end
        { RamBase + RamSize, 4096 },                      // just past the end
        { 0xFFFF_FFFF_FFFF_F000, 0x2000 },                // wraps around
        { RamBase, 0xFFFF_FFFF_FFFF_F000 },               // absurd length
        { 0xFEE0_0000, 4096 },                            // LAPIC page
    };

    [Theory]
    [MemberData(nameof(HostileRanges))]
    public void Ranges_that_are_not_page_ranges_inside_ram_answer_einval_without_host_effect(ulong address, ulong length)
    {
        var b = new PvMemControlBench();
        uint id = b.Connect();
        for (ulong code = 1; code <= 14; code++)
            Assert.Equal(new Response(22, (uint)code, 0, 0, 0), b.Request(id, code, address, length, 7));
        Assert.Empty(b.Control.Calls);
    }

    [Theory]
    [InlineData(15UL)]
    [InlineData(0x1_0000_0001UL)]
    [InlineData(ulong.MaxValue)]
    public void Unknown_function_codes_answer_eopnotsupp_with_the_code(ulong code)
    {
        var b = new PvMemControlBench();
        Assert.Equal(new Response(95, (uint)code, 0, 0, 0), b.Request(b.Connect(), code, Page, 4096));
        Assert.Empty(b.Control.Calls);
    }

    [Fact]
    public void Host_errno_is_passed_to_the_guest()
    {
        var b = new PvMemControlBench();
        b.Control.HostErrno = op => op == "mlock" ? GuestErrno.ENOMEM : 0;
        uint id = b.Connect();
        Assert.Equal(new Response(12, 7, 0, 0, 0), b.Request(id, 7, Page, 4096));
        Assert.Equal(new Response(0, 0, 0, 0, 0), b.Request(id, 8, Page, 4096));
    }

    [Fact]
    public void Without_host_memory_control_only_info_works()
    {
        var b = new PvMemControlBench(withControl: false);
        uint id = b.Connect();
        Assert.Equal(4096UL, b.Request(id, 0).Value);
        Assert.Equal(new Response(38, 1, 0, 0, 0), b.Request(id, 1, Page, 4096));
    }

    [Fact]
    public void The_response_overwrites_the_whole_request()
    {
        var b = new PvMemControlBench();
        uint id = b.Connect();
        b.PutRequest(Buf, 1, Page, 4096, ulong.MaxValue);
        b.Command(id);
        Assert.Equal(new Response(0, 0, 0, 0, 0), b.GetResponse(Buf));
    }

    [Fact]
    public void Random_requests_never_throw_and_touch_only_page_ranges_inside_ram()
    {
        var b = new PvMemControlBench();
        uint id = b.Connect();
        var rng = new Random(5);
        ulong[] interesting = [0, 1, 4096, RamBase, RamBase + RamSize, RamBase + RamSize - 4096, ulong.MaxValue, 0x8000_0000_0000_0000];
        ulong Pick() => rng.Next(3) == 0 ? (ulong)rng.NextInt64() : interesting[rng.Next(interesting.Length)] + (ulong)rng.Next(-1, 2) * 4096;
        for (int i = 0; i < 2000; i++)
        {
            var r = b.Request(id, (ulong)rng.Next(0, 17), Pick(), Pick(), Pick());
            Assert.Contains(r.Errno, new uint[] { 0, 1, 22, 95 });
        }
        foreach (var c in b.Control.Calls)
            Assert.True(c.Address % 4096 == 0 && c.Length % 4096 == 0 && c.Length > 0 && b.Memory.Contains(c.Address, c.Length), c.ToString());
    }
}
