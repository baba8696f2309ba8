using PluginVmm.Core.Interop;
using PluginVmm.Core.Kvm;
using Xunit;

namespace PluginVmm.Tests.Core;

/// <summary>
/// What each vCPU's CPUID says on top of the host's supported CPUID (the sandbox's `boot` scenario checks that a real
/// Linux guest of PluginVmm sees the TSC-deadline timer).
/// </summary>
public sealed class GuestCpuidTests
{
    private static KvmCpuidEntry2 Leaf(uint function, uint ebx = 0, uint ecx = 0, uint edx = 0) =>
        new() { Function = function, Ebx = ebx, Ecx = ecx, Edx = edx };

    [Fact]
    public void Leaf_1_gets_apic_id_count_hypervisor_bit_and_tsc_deadline_only_when_asked()
    {
        KvmCpuidEntry2[] supported = [Leaf(0), Leaf(1, ebx: 0xFFFF_0800, ecx: 0x0000_0001), Leaf(0xB, edx: 7)];
        var with = KvmVcpu.GuestCpuid(supported, id: 3, vcpuCount: 4, tscDeadline: true);
        var without = KvmVcpu.GuestCpuid(supported, id: 3, vcpuCount: 4, tscDeadline: false);
        Assert.Equal(0x0304_0800u, with[1].Ebx);                  // APIC id 3, 4 logical processors, low half kept
        Assert.Equal(0x8100_0001u, with[1].Ecx);                  // hypervisor (31) + TSC-deadline (24) + what was there
        Assert.Equal(0x8000_0001u, without[1].Ecx);
        Assert.Equal(3u, with[2].Edx);                            // x2APIC id in leaf 0xB
        Assert.Equal(0x0000_0001u, supported[1].Ecx);             // the host's table is not changed
    }
}
