using Xunit;
using System.Text;
using PluginVmm.Core.Vm;

namespace PluginVmm.Tests.Kvm;

public sealed class TinyGuestTests
{
    [KvmFact]
    public void Hello_PrintsOnCom1_AndExitsThroughDebugPort()
    {
        string elf = TinyGuestBuilder.Build("hello");
        using var serial = new MemoryStream();
        using var vm = VirtualMachine.Create(new VmOptions { MemoryBytes = 16 << 20, KernelPath = elf, SerialOutput = serial });
        var exit = vm.Run();

        Assert.Equal("hello from PluginVmm tiny guest\n", Encoding.ASCII.GetString(serial.ToArray()));
        Assert.Equal(VmExitReason.DebugExit, exit.Reason);
        Assert.Equal(0x21, exit.ExitCode);
    }

    [KvmFact]
    public void Reset_ThroughI8042_EndsWithResetAndCodeZero()
    {
        string elf = TinyGuestBuilder.Build("reset");
        using var vm = VirtualMachine.Create(new VmOptions { MemoryBytes = 16 << 20, KernelPath = elf, SerialOutput = Stream.Null });
        var exit = vm.Run();

        Assert.Equal(VmExitReason.Reset, exit.Reason);
        Assert.Equal(0, exit.ExitCode);
    }

    [KvmFact]
    public void Cancellation_StopsAGuestSpinningForever()
    {
        string elf = TinyGuestBuilder.Build("spin");
        using var vm = VirtualMachine.Create(new VmOptions { MemoryBytes = 16 << 20, Vcpus = 2, KernelPath = elf, SerialOutput = Stream.Null });
        using var cts = new CancellationTokenSource();
        cts.CancelAfter(TimeSpan.FromMilliseconds(300));
        var exit = vm.Run(cts.Token);

        Assert.Equal(VmExitReason.Stopped, exit.Reason);
    }
}
