using PluginVmm.Core.Hosting;
using PluginVmm.Tests.Config;
using Xunit;

namespace PluginVmm.Tests.Kvm;

/// <summary>
/// The pcitest tiny guest under the built `vmm` host with run-time-loaded plugins: what a guest sees on
/// the PCI bus, the BAR-rollback scenario, and pvpanic ending the VM.
/// </summary>
public sealed class PciGuestTests : IDisposable
{
    private const int GuestOk = (0x10 << 1) | 1;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string AllDevices()
    {
        _dir.Write("disk.img", new string('\0', 4096));
        return "[[device]]\nkind = \"pvpanic\"\n" +
               $"[[device]]\nkind = \"ivshmem\"\npath = \"{_dir.Combine("shm")}\"\nsize_mib = 2\n" +
               "[[device]]\nkind = \"pvmemcontrol\"\n" +
               $"[[device]]\nkind = \"virtio-block\"\npath = \"{_dir.Combine("disk.img")}\"\n" +
               "[[device]]\nkind = \"virtio-net\"\ntap = \"pvmmtest0\"\n";
    }

    [GuestFact]
    public void Guest_enumerates_every_configured_function_with_ids_class_and_bar_sizes()
    {
        var run = PcitestRun.Boot(_dir, "enum", AllDevices());
        Assert.True(run.Result.ExitCode == GuestOk, run.Result.ToString());
        var f = run.Functions();
        Assert.Equal([0x8086_0d57u, 0x1b36_0011u, 0x1af4_1110u, 0x1ae0_0087u, 0x1af4_1042u, 0x1af4_1041u],
            f.Select(x => (uint)x.Vendor << 16 | x.DeviceId));
        Assert.Equal([0x060000u, 0x088000u, 0x050000u, 0x088000u, 0x018000u, 0x020000u], f.Select(x => x.Class));

        Assert.Equal([new PcitestRun.Bar(0, "mem32", 0x10, f[1].Bars[0].Address)], f[1].Bars);       // pvpanic
        Assert.Equal(["0 mem32 256", "2 mem64 2097152"], f[2].Bars.Select(b => $"{b.Index} {b.Kind} {b.Size}")); // ivshmem
        Assert.Equal(["0 mem32 16"], f[3].Bars.Select(b => $"{b.Index} {b.Kind} {b.Size}"));          // pvmemcontrol
        Assert.Equal(["0 mem64 524288"], f[4].Bars.Select(b => $"{b.Index} {b.Kind} {b.Size}"));      // virtio-block
        Assert.Equal(["0 mem64 524288"], f[5].Bars.Select(b => $"{b.Index} {b.Kind} {b.Size}"));      // virtio-net
        foreach (var bar in f.SelectMany(x => x.Bars))
            Assert.True(bar.Address % bar.Size == 0, $"BAR at 0x{bar.Address:x} is not aligned to its size 0x{bar.Size:x}");
    }

    [GuestFact]
    public void Bar_rollback_scenario_keeps_every_device_working()
    {
        var run = PcitestRun.Boot(_dir, "rollback", AllDevices());
        var checks = run.Checks();
        Assert.True(checks.All(c => c.Ok), run.Result.ToString());
        string[] expected =
        [
            "pvpanic bar0 into RAM", "pvpanic bar0 onto LAPIC", "pvpanic bar0 onto IOAPIC", "pvpanic bar0 onto ivshmem bar0",
            "pvpanic bar0 moved", "pvpanic bar0 moved back",
            "ivshmem bar2 moved into the 32-bit hole", "ivshmem bar2 into RAM", "ivshmem bar2 onto LAPIC",
            "ivshmem bar2 beyond phys bits", "ivshmem bar2 at 0xfffffff000000000", "ivshmem bar2 onto its own bar0",
            "ivshmem bar0 kept its address", "ivshmem bar2 moved to the highest aligned address",
            "ivshmem bar2 moved back with its data", "ivshmem bar2 moved home above 4 GiB",
            "pvmemcontrol alive before", "pvmemcontrol bar0 into RAM", "pvmemcontrol bar0 onto LAPIC", "pvmemcontrol bar0 onto IOAPIC",
            "pvmemcontrol bar0 onto pvpanic bar0", "pvmemcontrol bar0 moved", "pvmemcontrol bar0 moved back",
        ];
        foreach (var virtio in new[] { "virtio-block", "virtio-net" })
        {
            expected = [.. expected, .. new[]
            {
                "bar0 moved into the 32-bit hole", "bar0 into RAM", "bar0 onto LAPIC", "bar0 beyond phys bits",
                "bar0 at 0xfffffff000000000", "bar0 onto pvpanic bar0", "bar0 moved again, device answers",
                "bar0 moved home above 4 GiB",
            }.Select(what => $"{virtio} {what}")];
        }
        foreach (var what in expected) Assert.Contains((true, what), checks);
        Assert.Equal(GuestOk, run.Result.ExitCode);
        Assert.Contains("keeping old BAR", run.Result.Stderr);
    }

    [GuestFact]
    public void Pvpanic_event_ends_the_vm_with_the_panic_exit_code()
    {
        var run = PcitestRun.Boot(_dir, "panic", "[[device]]\nkind = \"pvpanic\"\n");
        Assert.True(run.Result.ExitCode == ExitCodes.GuestPanic, run.Result.ToString());
        Assert.DoesNotContain("PANIC-NOT-TAKEN", run.Serial);
        Assert.Contains("pvpanic0: guest reported a panic", run.Result.Stderr);
    }
}
