using PluginVmm.Core.Config;
using PluginVmm.Sdk.Pci;
using PluginVmm.Tests.Config;
using PluginVmm.Tests.Pci.Fakes;
using Xunit;

namespace PluginVmm.Tests.Fuzz;

/// <summary>
/// Regression tests for what the guest-input fuzzers found, each reduced to the guest's shortest sequence.
/// </summary>
public sealed class FuzzFindingsTests
{
    /// <summary>
    /// Found by <see cref="PciGuestInputProperties"/> (shrunk from a 126k-case run to 4 operations on ivshmem's
    /// BAR2): with decoding off the guest wrote the low dword of a new address, then all ones to the high dword (a
    /// size probe), then turned decoding on. The SDK reported the move, the core carried it out, and its read-back
    /// saw the probe's size mask in the high dword instead of the new address, so it fenced a correct device.
    /// </summary>
    [Fact]
    public void HighDwordProbe_AfterANewLowDword_DoesNotMoveOrFenceUntilTheProbeEnds()
    {
        var bed = new PciTestBed();
        var spec = new PciBarSpec(2, 0x10_0000, PciBarKind.Memory64, Prefetchable: true);
        int dev = bed.Root.AddDevice("dev", new TestPciDevice(spec));
        ulong old = bed.CoreBase(dev, 2);
        ulong requested = (old & 0xFFFF_FFFF_0000_0000UL) | 0xFFF0_0000;

        bed.WriteCommand(dev, 0);
        bed.WriteConfig(dev, 6, 0xFFF0_0000);
        bed.WriteConfig(dev, 7, 0xFFFF_FFFF);
        bed.WriteCommand(dev, 0x2);

        Assert.False(bed.Root.IsFenced(dev), string.Join("; ", bed.Logger.Entries.Select(e => e.Message)));
        Assert.Equal(old, bed.CoreBase(dev, 2));
        Assert.Equal(0xFFFF_FFFFu, bed.ReadConfig(dev, 7)); // still reads the size mask
        Assert.Empty(bed.Root.CheckConsistency());

        bed.WriteConfig(dev, 7, (uint)(old >> 32)); // the probe ends with an address: now the BAR moves
        Assert.Equal(requested, bed.CoreBase(dev, 2));
        bed.AssertConsistent(dev, [spec]);
    }

    /// <summary>The same for a one-dword BAR (the ROM BAR here): a new address, a probe, decoding on.</summary>
    [Fact]
    public void RomProbe_AfterANewAddress_DoesNotMoveOrFenceUntilTheProbeEnds()
    {
        var bed = new PciTestBed();
        var spec = new PciBarSpec(PciBarIndex.Rom, 0x1_0000, PciBarKind.Rom);
        int dev = bed.Root.AddDevice("dev", new TestPciDevice(spec));
        ulong old = bed.CoreBase(dev, PciBarIndex.Rom);
        ulong requested = old + 0x10_0000;

        bed.WriteCommand(dev, 0);
        bed.WriteConfig(dev, 12, (uint)requested);
        bed.WriteConfig(dev, 12, 0xFFFF_F800);
        bed.WriteCommand(dev, 0x2);

        Assert.False(bed.Root.IsFenced(dev), string.Join("; ", bed.Logger.Entries.Select(e => e.Message)));
        Assert.Equal(old, bed.CoreBase(dev, PciBarIndex.Rom));
        Assert.Equal(0xFFFF_0000u, bed.ReadConfig(dev, 12)); // the size mask of a 64 KiB ROM

        bed.WriteConfig(dev, 12, (uint)requested);
        Assert.Equal(requested, bed.CoreBase(dev, PciBarIndex.Rom));
        bed.AssertConsistent(dev, [spec]);
    }

    private static IReadOnlyList<string> ConfigErrors(string toml, TempDirectory dir)
    {
        var result = ConfigLoader.Load(ConfigLoader.Parse(toml, "vmm.toml", dir.Path), TestPlugins.All);
        Assert.Null(result.Config);
        return [.. result.Diagnostics.Select(d => d.ToString())];
    }

    /// <summary>
    /// Found by <see cref="ConfigInputProperties"/> (shrunk from 200 random bytes to the two characters <c>"\</c>):
    /// a file ending inside a basic string right after a backslash — a truncated <c>kernel = "C:\</c> — made Tomlyn's
    /// lexer throw ArgumentOutOfRangeException out of the loader instead of an error with exit code 2.
    /// </summary>
    [Fact]
    public void FileEndingInAStringAfterABackslash_IsASyntaxErrorAtTheBackslash()
    {
        using var dir = new TempDirectory();
        const string message = "syntax error: the file ends inside a string, after a backslash (an unfinished escape sequence)";
        Assert.Equal([$"vmm.toml(2,13): error: {message}"], ConfigErrors("[vm]\nkernel = \"C:\\", dir));
        Assert.Equal([$"vmm.toml(1,2): error: {message}"], ConfigErrors("\"\\", dir));
        Assert.Equal([$"vmm.toml(1,9): error: {message}"], ConfigErrors("x = { \"a\\", dir));
    }

    /// <summary>
    /// Found by <see cref="ConfigInputProperties"/>: a path holding "\u0000" made Path.GetFullPath throw
    /// ArgumentException out of the loader ([vm] kernel) — and a [PathOption] of a plugin the same way.
    /// </summary>
    [Fact]
    public void NulInAPath_IsReportedAtTheValue_OnOneLine()
    {
        using var dir = new TempDirectory();
        dir.Write("bzImage", "kernel");
        Assert.Equal(["vmm.toml(2,10): error: kernel: a path must not contain a NUL character"],
            ConfigErrors("[vm]\nkernel = \"bz\\u0000Image\"\n", dir));
        Assert.Equal(["vmm.toml(5,8): error: path: a path must not contain a NUL character"],
            ConfigErrors("[vm]\nkernel = \"bzImage\"\n[[device]]\nkind = \"disk\"\npath = \"d\\u0000\"\n", dir));
    }

    /// <summary>
    /// Found by <see cref="ConfigInputProperties"/>: 65 nested arrays made Tomlyn throw TomlException ("maximum depth
    /// of 64") out of the loader.
    /// </summary>
    [Fact]
    public void DeeplyNestedArrays_AreASyntaxError()
    {
        using var dir = new TempDirectory();
        var line = Assert.Single(ConfigErrors("x = " + new string('[', 80) + new string(']', 80), dir));
        Assert.Matches(@"^vmm\.toml\(1,\d+\): error: syntax error: arrays or inline tables nested more than 64 levels deep$", line);
    }

    /// <summary>A message quoting a value with a newline stays one line of output (the config fuzzer's one-line rule).</summary>
    [Fact]
    public void ControlCharactersInMessages_AreEscaped()
    {
        using var dir = new TempDirectory();
        var errors = ConfigErrors("[vm]\nkernel = \"no\\nsuch\\tfile\"\n", dir);
        var line = Assert.Single(errors);
        Assert.DoesNotContain('\n', line);
        Assert.Contains("no\\nsuch\\tfile", line);
    }
}
