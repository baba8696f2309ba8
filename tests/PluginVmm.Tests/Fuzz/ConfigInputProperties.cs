using System.Text;
using System.Text.RegularExpressions;
using CsCheck;
using PluginVmm.Core.Config;
using PluginVmm.Tests.Config;
using Xunit;
using Xunit.Abstractions;

namespace PluginVmm.Tests.Fuzz;

/// <summary>
/// Issue 7, target 5: user input. Arbitrary bytes, and valid vmm.toml files mutated (bytes flipped, TOML tokens
/// inserted, ranges deleted or duplicated, lines swapped), go through the loader (parse, [vm] checks, device binding
/// with plugins whose options cover every binding rule, one of them throwing in Validate). The outcome is always
/// either a config and no diagnostics, or no config and diagnostics that each print as
/// <c>vmm.toml(line,col): error: message</c> on one line with a position inside the file; never an exception.
/// <para><b>What counts as a case:</b> one file through the loader. Default run: <see cref="Files"/> random byte
/// files + <see cref="Files"/> mutated files per test, times PLUGINVMM_FUZZ_SCALE.</para>
/// </summary>
public sealed partial class ConfigInputProperties(ITestOutputHelper output) : IDisposable
{
    public const int Files = 50_000;

    private readonly TempDirectory _dir = CreateDirectory();

    private static TempDirectory CreateDirectory()
    {
        var dir = new TempDirectory();
        dir.Write("bzImage", "kernel");
        dir.Write("initrd.img", "initramfs");
        dir.Write("disk.img", "disk");
        return dir;
    }

    public void Dispose() => _dir.Dispose();

    /// <summary>Valid files the mutations start from (each loads without diagnostics).</summary>
    private static readonly string[] Seeds =
    [
        """
        [vm]
        memory_mib = 256
        vcpus = 2
        kernel = "bzImage"
        initramfs = "initrd.img"
        cmdline = "console=ttyS0 quiet"
        """,
        """
        # comment
        [vm]
        kernel = 'bzImage'

        [[device]]
        kind = "pvpanic"

        [[device]]
        kind = "disk"
        path = "disk.img"
        readonly = true
        """,
        """
        [vm]
        kernel = "bzImage"
        vcpus = 1
        [[device]]
        kind = "gadget"
        queues = 4
        slot = 7
        base = 0x1000
        ratio = 0.5
        mode = "fast-path"
        tags = ["a", "b"]
        ports = [1, 2, 3]
        name = "g0"
        """,
        """
        [vm]
        kernel = "bzImage"
        memory_mib = 65536
        [[device]]
        kind = "gadget"
        tags = []
        """,
    ];

    private static readonly string[] Tokens =
    [
        "[", "]", "[[", "]]", "=", "\"", "'", "\"\"\"", "'''", "\n", "\r\n", "#", ",", "{", "}", ".", "-", "+", "_",
        "\\", "\\u0000", "\\uD800", "\t", " ", "\0", "\uFEFF", "é", "\uD83D\uDE00",
        "[vm]", "[[device]]", "[device]", "[[vm]]", "kind = ", "kind = \"pvpanic\"", "kind = \"fragile\"", "kind = \"disk\"",
        "kernel = ", "memory_mib = ", "vcpus = ", "path = ", "queues = ", "mode = ", "tags = ", "ports = ", "base = ",
        "a.b.c = 1", "vm.kernel = 1", "device = 1",
        "0", "-1", "1e999", "inf", "-inf", "nan", "0x", "0xFFFFFFFFFFFFFFFFFF", "9223372036854775808", "-9223372036854775809",
        "1_000", "0b102", "0o9", "1979-05-27T07:32:00Z", "07:32:00", "true", "false", "[1, \"a\"]", "{ x = 1 }",
        "\"/nonexistent/x\"", "\"../../../../etc/passwd\"", "\"\"", new string('a', 300), new string('[', 50),
    ];

    private static readonly Regex DiagnosticLine = DiagnosticPattern();

    [GeneratedRegex(@"^vmm\.toml\((\d+),(\d+)\): error: \S[^\r\n]*$")]
    private static partial Regex DiagnosticPattern();

    [Fact]
    public void ArbitraryBytes_LoadOrReportPositionedErrors()
    {
        var gen = Gen.Frequency(
            (3, Gen.Byte.Array[0, 200]),
            (1, Gen.OneOf(Tokens).Array[0, 30].Select(t => Encoding.UTF8.GetBytes(string.Concat(t)))));
        long cases = PropertyRunner.Check("config-arbitrary-bytes", seed: 0x7_0005, gen, Files, _ => 1,
            bytes => CheckFile(Decode(bytes)), b => Convert.ToHexString(b), output.WriteLine);
        Assert.True(cases >= 50_000 * PropertyRunner.Scale);
    }

    [Fact]
    public void MutatedValidFiles_LoadOrReportPositionedErrors()
    {
        foreach (var seed in Seeds) Assert.True(Load(seed).Succeeded, string.Join("\n", Load(seed).Diagnostics));
        var mutation = Gen.Frequency(
            (3, Gen.Select(Gen.UInt, Gen.OneOf(Tokens), (at, token) => (Func<string, string>)(s => s.Insert(Pos(s, at), token)))),
            (2, Gen.Select(Gen.UInt, Gen.Int[1, 20], (at, n) => (Func<string, string>)(s => Delete(s, Pos(s, at), n)))),
            (2, Gen.Select(Gen.UInt, Gen.Byte, (at, b) => (Func<string, string>)(s => s.Length == 0 ? s : s.Remove(Pos(s, at) % s.Length, 1).Insert(Pos(s, at) % s.Length, ((char)b).ToString())))),
            (1, Gen.Select(Gen.UInt, Gen.UInt, Gen.Int[1, 40], (from, to, n) => (Func<string, string>)(s => Duplicate(s, Pos(s, from), Pos(s, to), n)))),
            (1, Gen.Select(Gen.UInt, Gen.UInt, (a, b) => (Func<string, string>)(s => SwapLines(s, a, b)))));
        var gen = Gen.Select(Gen.Int[0, Seeds.Length - 1], mutation.Array[1, 6], Gen.UInt,
            (seed, mutations, id) => (Seed: seed, Mutations: mutations, Id: id));
        long cases = PropertyRunner.Check("config-mutated-files", seed: 0x7_0055, gen, Files, _ => 1,
            input => CheckFile(Apply(input.Seed, input.Mutations)),
            input => Apply(input.Seed, input.Mutations), output.WriteLine);
        Assert.True(cases >= 50_000 * PropertyRunner.Scale);
    }

    private static string Apply(int seed, Func<string, string>[] mutations) =>
        mutations.Aggregate(Seeds[seed].ReplaceLineEndings("\n"), (s, m) => m(s));

    /// <summary>The text File.ReadAllText would produce from these bytes (BOM detection, invalid UTF-8 replaced).</summary>
    private static string Decode(byte[] bytes)
    {
        using var reader = new StreamReader(new MemoryStream(bytes), Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return reader.ReadToEnd();
    }

    private ConfigResult Load(string text) => Load(text, _dir.Path);

    private static ConfigResult Load(string text, string directory) => ConfigLoader.Load(ConfigLoader.Parse(text, "vmm.toml", directory), TestPlugins.All);

    private void CheckFile(string text) => CheckFile(text, _dir.Path);

    /// <summary>
    /// The property for one file's bytes as <c>File.ReadAllText</c> would decode them, loaded relative to
    /// <paramref name="directory"/>: a config and no diagnostics, or positioned one-line diagnostics; throws otherwise.
    /// </summary>
    internal static void CheckBytes(byte[] bytes, string directory) => CheckFile(Decode(bytes), directory);

    private static void CheckFile(string text, string directory)
    {
        var result = Load(text, directory);
        if (result.Succeeded)
        {
            if (result.Diagnostics.Count != 0) throw new InvalidOperationException("a config and diagnostics at once");
            return;
        }
        if (result.Diagnostics.Count == 0) throw new InvalidOperationException("no config and no diagnostic");
        int lines = text.Split('\n').Length;
        foreach (var d in result.Diagnostics)
        {
            string line = d.ToString();
            var m = DiagnosticLine.Match(line);
            if (!m.Success) throw new InvalidOperationException($"diagnostic not in the form file(line,col): error: message: \"{line}\"");
            int row = int.Parse(m.Groups[1].Value), col = int.Parse(m.Groups[2].Value);
            if (row < 1 || row > lines || col < 1) throw new InvalidOperationException($"diagnostic position ({row},{col}) outside the {lines}-line file: \"{line}\"");
        }
    }

    private static int Pos(string s, uint at) => s.Length == 0 ? 0 : (int)(at % (uint)(s.Length + 1));

    private static string Delete(string s, int at, int n) => s.Remove(at, Math.Min(n, s.Length - at));

    private static string Duplicate(string s, int from, int to, int n)
    {
        int len = Math.Min(n, s.Length - from);
        return len <= 0 ? s : s.Insert(Math.Min(to, s.Length), s.Substring(from, len));
    }

    private static string SwapLines(string s, uint a, uint b)
    {
        var lines = s.Split('\n');
        int i = (int)(a % (uint)lines.Length), j = (int)(b % (uint)lines.Length);
        (lines[i], lines[j]) = (lines[j], lines[i]);
        return string.Join('\n', lines);
    }
}
