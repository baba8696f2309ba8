using PluginVmm.Core.Memory;
using PluginVmm.Sdk.Memory;
using Xunit;

namespace PluginVmm.Tests.PvMemControl;

/// <summary>The core's <see cref="GuestMemoryControl"/> on real guest RAM mappings (no KVM needed).</summary>
public sealed class GuestMemoryControlTests
{
    [Fact]
    public void Dontneed_drops_the_host_page_so_it_reads_zero()
    {
        using var mem = GuestMemory.Create(1 << 20);
        var control = new GuestMemoryControl(mem);
        Assert.Equal((ulong)Environment.SystemPageSize, control.PageSize);
        mem.GetSpan(0x4000, 0x2000).Fill(0xA5);
        Assert.Equal(0, control.Advise(0x4000, 0x1000, GuestMemoryAdvice.DontNeed));
        Assert.True(mem.GetSpan(0x4000, 0x1000).IndexOfAnyExcept((byte)0) < 0);
        Assert.True(mem.GetSpan(0x5000, 0x1000).IndexOfAnyExcept((byte)0xA5) < 0);
    }

    [Fact]
    public void Ranges_outside_one_ram_region_are_refused_before_any_system_call()
    {
        // 3 GiB + 1 MiB: regions [0, 3 GiB) and [4 GiB, 4 GiB + 1 MiB) (MAP_NORESERVE: nothing is committed).
        using var mem = GuestMemory.Create((3UL << 30) + (1 << 20));
        var control = new GuestMemoryControl(mem);
        mem.GetSpan(0xBFFF_F000, 16).Fill(0x77);
        (ulong, ulong)[] hostile =
        [
            (0xBFFF_F000, 0x2000),              // runs into the PCI hole
            (0xBFFF_F000, 0x4000_2000),         // spans both regions
            (0xC000_0000, 0x1000),              // in the hole
            (0x1_0010_0000, 0x1000),            // past the high region
            (0x1000, 0),                        // empty
            (0x1001, 0x1000),                   // unaligned address
            (0x1000, 0x800),                    // unaligned length
            (0xFFFF_FFFF_FFFF_F000, 0x2000),    // wraps
        ];
        foreach (var (a, n) in hostile)
        {
            Assert.Equal(GuestErrno.EINVAL, control.Advise(a, n, GuestMemoryAdvice.DontNeed));
            Assert.Equal(GuestErrno.EINVAL, control.Lock(a, n, onFault: false));
            Assert.Equal(GuestErrno.EINVAL, control.Protect(a, n, GuestMemoryProtection.ReadWrite));
            Assert.Equal(GuestErrno.EINVAL, control.SetName(a, n, "x"));
        }
        Assert.Equal(0x77, mem.GetSpan(0xBFFF_F000, 1)[0]); // nothing was dropped
        Assert.Equal(0, control.Advise(0x1_0000_0000, 0x10_0000, GuestMemoryAdvice.DontNeed)); // the whole high region is fine
    }

    [Fact]
    public void Mprotect_keeps_guest_ram_read_write()
    {
        using var mem = GuestMemory.Create(1 << 20);
        var control = new GuestMemoryControl(mem);
        foreach (var p in new[] { GuestMemoryProtection.None, GuestMemoryProtection.Read, GuestMemoryProtection.Write })
            Assert.Equal(GuestErrno.EPERM, control.Protect(0x1000, 0x1000, p));
        Assert.Equal(0, control.Protect(0x1000, 0x1000, GuestMemoryProtection.ReadWrite));
        mem.GetSpan(0x1000, 0x1000).Fill(1); // still writable from the VMM
    }

    [Fact]
    public void Host_operations_return_zero_or_the_host_errno()
    {
        using var mem = GuestMemory.Create(1 << 20);
        var control = new GuestMemoryControl(mem);
        // Whether these succeed depends on the host (RLIMIT_MEMLOCK, CONFIG_ANON_VMA_NAME, CONFIG_KSM); the answer is
        // 0 or a positive errno, never an exception.
        int lockRc = control.Lock(0x2000, 0x1000, onFault: true);
        Assert.True(lockRc is 0 or GuestErrno.ENOMEM or GuestErrno.EPERM, $"mlock2: {lockRc}");
        Assert.Equal(0, control.Unlock(0x2000, 0x1000));
        Assert.True(control.SetName(0x2000, 0x1000, "pvmemcontrol-1") is 0 or GuestErrno.EINVAL);
        Assert.True(control.SetName(0x2000, 0x1000, null) is 0 or GuestErrno.EINVAL);
        Assert.True(control.Advise(0x2000, 0x1000, GuestMemoryAdvice.Mergeable) is 0 or GuestErrno.EINVAL);
        Assert.True(control.Advise(0x2000, 0x1000, GuestMemoryAdvice.Unmergeable) is 0 or GuestErrno.EINVAL);
        Assert.Equal(0, control.Advise(0x2000, 0x1000, GuestMemoryAdvice.DontDump));
        Assert.Equal(0, control.Advise(0x2000, 0x1000, GuestMemoryAdvice.Free));
        // MADV_REMOVE needs a shared mapping; guest RAM is private anonymous, so the host refuses it.
        Assert.Equal(GuestErrno.EINVAL, control.Advise(0x2000, 0x1000, GuestMemoryAdvice.Remove));
    }

    [Fact]
    public void Vma_splitting_calls_are_capped_so_the_guest_cannot_use_up_the_process_map_count()
    {
        using var mem = GuestMemory.Create(1 << 20);
        // A deterministic VMA count (other tests map and unmap concurrently): 1000 plus two per call that went through.
        int done = 0;
        var control = new GuestMemoryControl(mem, mapCountLimit: 1020, countMappings: () => 1000 + 2 * done);
        int refused = 0;
        for (ulong page = 0; page < 64; page += 2) // every other page: each call really adds two VMAs
        {
            int rc = control.Advise(page * 4096, 4096, GuestMemoryAdvice.DontDump);
            if (rc == GuestErrno.ENOMEM) refused++;
            else { Assert.Equal(0, rc); done++; }
        }
        Assert.Equal((10, 22), (done, refused));
        Assert.Equal(GuestErrno.ENOMEM, control.SetName(0x80000, 0x1000, "x"));
        Assert.Equal(GuestErrno.ENOMEM, control.Lock(0x80000, 0x1000, onFault: false));
        // Dropping pages never splits a mapping and is never refused for it.
        Assert.Equal(0, control.Advise(0x81000, 0x1000, GuestMemoryAdvice.DontNeed));
        done = 0; // VMAs merged back: room again
        Assert.Equal(0, control.Advise(0x80000, 0x1000, GuestMemoryAdvice.DontDump));
    }

    [Fact]
    public void Once_ram_is_pinned_for_dma_dropping_pages_is_refused_with_ebusy_and_the_data_stays()
    {
        using var mem = GuestMemory.Create(1 << 20);
        var control = new GuestMemoryControl(mem);
        mem.GetSpan(0x4000, 0x1000).Fill(0x5A);

        control.DisableDiscard("vfio0");

        Assert.Equal("vfio0", control.DiscardDisabledBy);
        foreach (var advice in new[] { GuestMemoryAdvice.DontNeed, GuestMemoryAdvice.Remove, GuestMemoryAdvice.Free, GuestMemoryAdvice.PageOut })
            Assert.Equal(16, control.Advise(0x4000, 0x1000, advice));   // EBUSY
        Assert.True(mem.GetSpan(0x4000, 0x1000).IndexOfAnyExcept((byte)0x5A) < 0);
        Assert.Equal(0, control.Advise(0x4000, 0x1000, GuestMemoryAdvice.DontDump)); // not a drop: still allowed
    }

    [Fact]
    public void A_device_asking_for_the_host_addresses_of_ram_disables_discarding()
    {
        using var mem = GuestMemory.Create(1 << 20);
        var control = new GuestMemoryControl(mem);
        var context = new PluginVmm.Core.Hosting.DeviceContext("vfio0", mem, null!, null!, null!,
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, control, [], RamPinned: control.DisableDiscard);

        Assert.Null(control.DiscardDisabledBy);
        _ = context.RamMappings;

        Assert.Equal("vfio0", control.DiscardDisabledBy);
    }
}
