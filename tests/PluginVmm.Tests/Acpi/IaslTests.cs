using System.Diagnostics;
using PluginVmm.Core.Acpi;
using PluginVmm.Tests.Boot;
using Xunit;
using Xunit.Abstractions;

namespace PluginVmm.Tests.Acpi;

/// <summary>A fact that needs ACPICA's iasl (Debian package acpica-tools); skips, saying so, without it.</summary>
internal sealed class IaslFactAttribute : FactAttribute
{
    public IaslFactAttribute()
    {
        if (Iasl.Path is null) Skip = "iasl not found on PATH (apt-get install acpica-tools)";
    }
}

internal static class Iasl
{
    public static readonly string? Path = (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(':', StringSplitOptions.RemoveEmptyEntries)
        .Select(dir => System.IO.Path.Combine(dir, "iasl"))
        .FirstOrDefault(File.Exists);

    /// <summary>Runs iasl with <paramref name="args"/> in <paramref name="dir"/>; returns exit code and all output.</summary>
    public static (int Code, string Output) Run(string dir, params string[] args)
    {
        var psi = new ProcessStartInfo(Path!) { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}

/// <summary>
/// Independent check of the tables with ACPICA: iasl disassembles each binary table (verifying checksum, lengths
/// and field layout), and the disassembled DSDT must recompile without errors.
/// </summary>
public sealed class IaslTests(ITestOutputHelper output)
{
    private static readonly AcpiLayout Layout = new()
    {
        VcpuCount = 2,
        Mmio64Start = 0x100_0000_0000,
        Mmio64End = 0x1FF_FFFF_FFFF,
    };

    private string Disassemble(string name, byte[] table, out string dir)
    {
        dir = Directory.CreateTempSubdirectory("pluginvmm-iasl-").FullName;
        File.WriteAllBytes(System.IO.Path.Combine(dir, name + ".dat"), table);
        var (code, log) = Iasl.Run(dir, "-d", name + ".dat");
        Assert.True(code == 0, $"iasl -d {name}.dat failed:\n{log}");
        var dsl = File.ReadAllText(System.IO.Path.Combine(dir, name + ".dsl"));
        output.WriteLine(dsl);
        Assert.DoesNotContain("Incorrect checksum", dsl);
        Assert.DoesNotContain("Invalid", dsl);
        return dsl;
    }

    private byte[] Table(string signature)
    {
        var m = new ByteArrayGuestMemory(2 << 20);
        return AcpiTablesTests.ReadTables(m, AcpiTables.Write(m, Layout))[signature].Bytes;
    }

    [IaslFact]
    public void Dsdt_disassembles_and_recompiles_cleanly()
    {
        var dsl = Disassemble("dsdt", Table("DSDT"), out var dir);
        try
        {
            Assert.Contains("Name (_S5, Package (0x04)", dsl);
            Assert.Contains("Device (PCI0)", dsl);
            Assert.Contains("EisaId (\"PNP0A08\")", dsl);
            Assert.Contains("EisaId (\"PNP0A03\")", dsl);
            Assert.Contains("WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,", dsl);
            Assert.Contains("IO (Decode16,", dsl);
            Assert.Contains("WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,", dsl);
            Assert.Contains("DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,", dsl);
            Assert.Contains("QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite,", dsl);
            Assert.Contains("0x000001FFFFFFFFFF", dsl);
            Assert.Contains("0xE7FFFFFF", dsl);
            Assert.Contains("Memory32Fixed (ReadWrite,", dsl);
            Assert.Contains("Device (COM1)", dsl);
            Assert.Contains("EisaId (\"PNP0501\")", dsl);
            Assert.Contains("IRQNoFlags ()", dsl);

            // Recompile what iasl disassembled: AML that round-trips through the ASL compiler is well-formed.
            // -oa: no optimisations, so iasl keeps our encoding choices (it would shorten "\\_SB" to "_SB").
            var (code, log) = Iasl.Run(dir, "-oa", "-p", "recompiled", "dsdt.dsl");
            output.WriteLine(log);
            Assert.True(code == 0, $"iasl could not recompile the disassembled DSDT:\n{log}");
            Assert.Contains("0 Errors, 0 Warnings", log);
            // And the recompiled AML is byte-identical to ours in its body.
            var recompiled = File.ReadAllBytes(System.IO.Path.Combine(dir, "recompiled.aml"));
            Assert.Equal(Table("DSDT")[36..], recompiled[36..]);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [IaslFact]
    public void Fadt_disassembles_as_hardware_reduced_revision_6()
    {
        var dsl = Disassemble("facp", Table("FACP"), out var dir);
        Directory.Delete(dir, recursive: true);
        Assert.Matches(@"Table Length : 00000114", dsl);
        Assert.Matches(@"Revision : 06", dsl);
        Assert.Matches(@"Hardware Reduced \(V5\) : 1", dsl);
        Assert.Matches(@"Reset Register Supported \(V2\) : 1", dsl);
        Assert.Matches(@"8042 Present on ports 60/64 \(V2\) : 0", dsl);
        // Within one Generic Address Structure block: System I/O space, then the port.
        const string InBlock = @"(?:(?!Generic Address)[\s\S])*?";
        Assert.Matches(@"Reset Register : \[Generic Address Structure\]" + InBlock + @"Space ID : 01 \[SystemIO\]" + InBlock +
            @"Bit Width : 08" + InBlock + @"Address : 00000000000003C0\s+\S+\s+\S+\s+\S+\s+Value to cause reset : 01", dsl);
        Assert.Matches(@"Sleep Control Register : \[Generic Address Structure\]" + InBlock + @"Space ID : 01 \[SystemIO\]" + InBlock +
            @"Address : 00000000000003C0", dsl);
        Assert.Matches(@"Sleep Status Register : \[Generic Address Structure\]" + InBlock + @"Space ID : 01 \[SystemIO\]" + InBlock +
            @"Address : 00000000000003C1", dsl);
        Assert.Matches(@"DSDT Address : 00000000000E00[0-9A-F]{2}", dsl);
        Assert.Contains("Hypervisor ID : 204D4D5647554C50", dsl); // "PLUGVMM " little-endian
    }

    [IaslFact]
    public void Madt_and_mcfg_disassemble()
    {
        var madt = Disassemble("apic", Table("APIC"), out var dir);
        Directory.Delete(dir, recursive: true);
        Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(madt, @"Subtable Type : 00 \[Processor Local APIC\]").Count);
        Assert.Contains("[I/O APIC]", madt);
        Assert.Contains("FEC00000", madt);
        Assert.Contains("[Local APIC NMI]", madt);

        var mcfg = Disassemble("mcfg", Table("MCFG"), out dir);
        Directory.Delete(dir, recursive: true);
        Assert.Contains("00000000E8000000", mcfg);
    }
}
