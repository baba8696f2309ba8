using System.Globalization;
using System.Text.RegularExpressions;
using PluginVmm.Tests.Config;
using PluginVmm.Tests.Plugins;

namespace PluginVmm.Tests.Kvm;

/// <summary>One run of the pcitest guest under the built `vmm` host, with what it printed parsed.</summary>
internal sealed partial class PcitestRun
{
    public sealed record Bar(int Index, string Kind, ulong Size, ulong Address);

    public sealed record Function(int Device, ushort Vendor, ushort DeviceId, uint Class, List<Bar> Bars);

    private PcitestRun(ProcessRunner.Result result) => Result = result;

    public ProcessRunner.Result Result { get; }

    public string Serial => Result.Stdout;

    /// <summary>
    /// Boots pcitest (or another tiny <paramref name="guest"/> printing the same kind of lines) in <paramref name="mode"/>
    /// with the given <c>[[device]]</c> tables (TOML text); <paramref name="config"/> names the TOML file in <paramref name="dir"/>.
    /// </summary>
    public static PcitestRun Boot(TempDirectory dir, string mode, string devices, string? pluginsDir = null,
        string guest = "pcitest", string config = "vm.toml")
    {
        string kernel = TinyGuestBuilder.Build(guest);
        string plugins = pluginsDir is null ? "" : $"plugins_dir = \"{pluginsDir}\"\n";
        dir.Write(config, $"[vm]\nmemory_mib = 64\nkernel = \"{kernel}\"\ncmdline = \"{mode}\"\n{plugins}\n{devices}");
        return new PcitestRun(ProcessRunner.Vmm(RepoLayout.HostOutput, "run", dir.Combine(config)));
    }

    /// <summary>The functions the guest listed in "enum" mode.</summary>
    public IReadOnlyList<Function> Functions()
    {
        var functions = new List<Function>();
        foreach (var line in Serial.Split('\n'))
        {
            if (PciLine().Match(line) is { Success: true } p)
                functions.Add(new Function(Hex(p.Groups[1]), (ushort)Hex(p.Groups[2]), (ushort)Hex(p.Groups[3]), (uint)Hex(p.Groups[4]), []));
            else if (BarLine().Match(line) is { Success: true } b)
                functions.Single(f => f.Device == Hex(b.Groups[1])).Bars.Add(
                    new Bar(Hex(b.Groups[2]), b.Groups[3].Value, HexU64(b.Groups[4]), HexU64(b.Groups[5])));
        }
        return functions;
    }

    /// <summary>"OK what" / "FAIL what" lines (rollback, ivshmem and pvmemtest).</summary>
    public IReadOnlyList<(bool Ok, string What)> Checks() =>
        Serial.Split('\n').Where(l => l.StartsWith("OK ", StringComparison.Ordinal) || l.StartsWith("FAIL ", StringComparison.Ordinal))
            .Select(l => (l.StartsWith("OK ", StringComparison.Ordinal), l[(l.IndexOf(' ') + 1)..])).ToList();

    private static int Hex(Group g) => int.Parse(g.Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    private static ulong HexU64(Group g) => ulong.Parse(g.Value, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    [GeneratedRegex("^PCI ([0-9a-f]{2}) ([0-9a-f]{4}):([0-9a-f]{4}) class ([0-9a-f]{6})$")]
    private static partial Regex PciLine();

    [GeneratedRegex("^BAR ([0-9a-f]{2}) ([0-9a-f]) (io|mem32|mem64|rom) size 0x([0-9a-f]{16}) addr 0x([0-9a-f]{16})$")]
    private static partial Regex BarLine();
}
