using PluginVmm.Core.Config;
using Xunit;

namespace PluginVmm.Tests.Config;

/// <summary>
/// Malformed vmm.toml files: each problem is one line `vmm.toml(line,col): error: message`, exactly, and every
/// problem in a file is reported at once. "{dir}" in an expected line stands for the config file's folder.
/// </summary>
public sealed class ConfigErrorTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public ConfigErrorTests()
    {
        _dir.Write("bzImage", "kernel");
        _dir.Write("initrd.img", "initramfs");
        _dir.Write("disk.img", "disk");
    }

    public void Dispose() => _dir.Dispose();

    private IReadOnlyList<string> Errors(string toml, ConfigOverrides? overrides = null)
    {
        var result = ConfigLoader.Load(ConfigLoader.Parse(toml, "vmm.toml", _dir.Path, overrides), TestPlugins.All);
        Assert.Null(result.Config);
        return [.. result.Diagnostics.Select(d => d.ToString().Replace(_dir.Path, "{dir}"))];
    }

    private void AssertErrors(string toml, params string[] expected) => Assert.Equal(expected, Errors(toml));

    [Fact]
    public void SyntaxError_IsReportedOnce_AtTheOffendingToken() => AssertErrors("""
        [vm]
        kernel = = "bzImage"
        """,
        "vmm.toml(2,10): error: syntax error: Unexpected token `=` for a value");

    [Fact]
    public void UnterminatedString_IsASyntaxError() => AssertErrors("""
        [vm]
        kernel = "bzImage
        vcpus = 1
        """,
        "vmm.toml(2,18): error: syntax error: Invalid newline in a string");

    [Fact]
    public void UnknownKeyInVm_PointsAtTheKey_AndListsValidKeys() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        memory = 512
        """,
        "vmm.toml(3,1): error: unknown key 'memory' in [vm]; valid keys: memory_mib, vcpus, kernel, initramfs, cmdline, plugins_dir");

    [Fact]
    public void UnknownTopLevelKey() => AssertErrors("""
        memory_mib = 512
        [vm]
        kernel = "bzImage"
        """,
        "vmm.toml(1,1): error: unknown top-level key 'memory_mib'; settings go in the [vm] table or in [[device]] tables");

    [Fact]
    public void UnknownTable() => AssertErrors("""
        [vm]
        kernel = "bzImage"

        [network]
        tap = "tap0"
        """,
        "vmm.toml(4,1): error: unknown table [network]; expected [vm] or [[device]]");

    [Fact]
    public void UnknownKind_ListsTheInstalledKinds() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        [[device]]
        kind = "virtio-gpu"
        """,
        "vmm.toml(4,8): error: unknown device kind 'virtio-gpu'; available kinds: disk, fragile, gadget, pvpanic");

    [Fact]
    public void MissingKind_PointsAtTheDeviceHeader() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        [[device]]
        path = "disk.img"
        """,
        "vmm.toml(3,1): error: missing required key 'kind' in [[device]]");

    [Fact]
    public void KindOfWrongType() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        [[device]]
        kind = 5
        """,
        "vmm.toml(4,8): error: kind: expected a string, got an integer");

    [Fact]
    public void WrongType_PointsAtTheValue() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        vcpus = "two"
        """,
        "vmm.toml(3,9): error: vcpus: expected an integer, got a string");

    [Fact]
    public void WrongTypeForABooleanDeviceOption() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        [[device]]
        kind = "disk"
        path = "disk.img"
        readonly = "yes"
        """,
        "vmm.toml(6,12): error: readonly: expected a boolean (true or false), got a string");

    [Fact]
    public void InlineTableWhereAStringBelongs() => AssertErrors("""
        [vm]
        kernel = { path = "bzImage" }
        """,
        "vmm.toml(2,10): error: kernel: expected a string, got an inline table");

    [Fact]
    public void MissingRequiredDeviceKey_FromRequiredAttribute() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        [[device]]
        kind = "disk"
        readonly = true
        """,
        "vmm.toml(3,1): error: missing required key 'path' for device kind 'disk'");

    [Fact]
    public void MissingKernel_PointsAtTheVmHeader() => AssertErrors("""
        [vm]
        memory_mib = 512
        """,
        "vmm.toml(1,1): error: missing required key 'kernel' in [vm]");

    [Fact]
    public void MissingVmTable() => AssertErrors("""
        # no [vm] here
        [[device]]
        kind = "pvpanic"
        """,
        "vmm.toml(1,1): error: missing required key 'kernel' in [vm] (there is no [vm] table)");

    [Fact]
    public void EmptyKernel() => AssertErrors("""
        [vm]
        kernel = ""
        """,
        "vmm.toml(2,10): error: kernel: must not be empty");

    [Fact]
    public void MissingKernelFile_ShowsWhereARelativePathLed() => AssertErrors("""
        [vm]
        kernel = "vmlinuz"
        """,
        "vmm.toml(2,10): error: kernel: file not found: 'vmlinuz' (resolved to {dir}/vmlinuz)");

    [Fact]
    public void KernelThatIsAFolder() => AssertErrors("""
        [vm]
        kernel = "."
        """,
        "vmm.toml(2,10): error: kernel: '.' is a directory, not a file");

    [Fact]
    public void MissingInitramfsFile() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        initramfs = "/nonexistent/initrd.img"
        """,
        "vmm.toml(3,13): error: initramfs: file not found: '/nonexistent/initrd.img'");

    [Fact]
    public void MemoryOutOfRange() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        memory_mib = 8
        """,
        "vmm.toml(3,14): error: memory_mib: 8 is out of range 16..65536");

    [Fact]
    public void VcpusOutOfRange() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        vcpus = 0
        """,
        "vmm.toml(3,9): error: vcpus: 0 is out of range 1..64");

    [Fact]
    public void HugeIntegerForAnIntKey_IsOutOfRangeNotOverflow() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        memory_mib = 9_000_000_000
        """,
        "vmm.toml(3,14): error: memory_mib: 9000000000 is out of range 16..65536");

    [Fact]
    public void DeviceOptionOutOfRange_FromRangeAttribute() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        [[device]]
        kind = "gadget"
        queues = 32
        """,
        "vmm.toml(5,10): error: queues: 32 is out of range 1..16");

    [Fact]
    public void IntegerTooLargeForAByteOption() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        [[device]]
        kind = "gadget"
        slot = 300
        """,
        "vmm.toml(5,8): error: slot: 300 is out of range 0..255");

    [Fact]
    public void NegativeValueForAnUnsignedOption() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        [[device]]
        kind = "gadget"
        base = -1
        """,
        "vmm.toml(5,8): error: base: -1 is out of range 0..18446744073709551615");

    [Fact]
    public void UnknownEnumValue_ListsTheChoices() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        [[device]]
        kind = "gadget"
        mode = "turbo"
        """,
        "vmm.toml(5,8): error: mode: 'turbo' is not one of off, fast-path");

    [Fact]
    public void ArrayElementOfWrongType_PointsAtTheElement() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        [[device]]
        kind = "gadget"
        tags = ["a", 2]
        """,
        "vmm.toml(5,14): error: tags[1]: expected a string, got an integer");

    [Fact]
    public void ScalarWhereAnArrayBelongs() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        [[device]]
        kind = "gadget"
        ports = 80
        """,
        "vmm.toml(5,9): error: ports: expected an array of integers, got an integer");

    [Fact]
    public void OtherValidationAttributes_UseTheirOwnMessage() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        [[device]]
        kind = "gadget"
        name = "much-too-long"
        """,
        "vmm.toml(5,8): error: name: The field name must be a string with a maximum length of 8.");

    [Fact]
    public void UnknownKeyInDevice_ChecksAgainstThePluginOptions() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        [[device]]
        kind = "disk"
        path = "disk.img"
        size = 10
        """,
        "vmm.toml(6,1): error: unknown key 'size' for device kind 'disk'; valid keys: kind, path, readonly");

    [Fact]
    public void UnknownKeyInADeviceWithoutOptions() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        [[device]]
        kind = "pvpanic"
        irq = 5
        """,
        "vmm.toml(5,1): error: unknown key 'irq' for device kind 'pvpanic'; valid keys: kind");

    [Fact]
    public void DottedKey_IsAnUnknownKey() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        [[device]]
        kind = "pvpanic"
        pci.slot = 3
        """,
        "vmm.toml(5,1): error: unknown key 'pci.slot' for device kind 'pvpanic'; valid keys: kind");

    [Fact]
    public void ErrorReportedByThePlugin_LandsOnTheKeysValue() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        [[device]]
        kind = "disk"
        path = "missing.img"
        """,
        "vmm.toml(5,8): error: path: disk image '{dir}/missing.img' does not exist");

    [Fact]
    public void PluginErrorAboutAnAbsentKey_LandsOnTheHeader() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        [[device]]
        kind = "gadget"
        mode = "fast-path"
        """,
        "vmm.toml(3,1): error: queues: fast-path needs an even number of queues");

    [Fact]
    public void PluginThatThrowsInValidate_IsReportedNotCrashed() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        [[device]]
        kind = "fragile"
        """,
        "vmm.toml(3,1): error: device kind 'fragile': the plugin failed while validating its options: boom");

    [Fact]
    public void DuplicateKey() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        vcpus = 1
        vcpus = 2
        """,
        "vmm.toml(4,1): error: duplicate key 'vcpus' in [vm] (first set at line 3)");

    [Fact]
    public void DuplicateVmTable() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        [vm]
        vcpus = 2
        """,
        "vmm.toml(3,1): error: duplicate table [vm] (first defined at line 1)");

    [Fact]
    public void DeviceWrittenAsAPlainTable() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        [device]
        kind = "pvpanic"
        """,
        "vmm.toml(3,1): error: [device] must be written [[device]]: each device is one table of an array");

    [Fact]
    public void VmWrittenAsAnArrayOfTables() => AssertErrors("""
        [[vm]]
        kernel = "bzImage"
        """,
        "vmm.toml(1,1): error: [[vm]] must be written [vm]: there is one VM table",
        "vmm.toml(1,1): error: missing required key 'kernel' in [vm] (there is no [vm] table)");

    [Fact]
    public void MissingPluginsDir_IsOneError_WithoutAnUnknownKindPerDevice() => AssertErrors("""
        [vm]
        kernel = "bzImage"
        plugins_dir = "no-such-dir"
        [[device]]
        kind = "whatever"
        """,
        "vmm.toml(3,15): error: plugins_dir: directory not found: 'no-such-dir' (resolved to {dir}/no-such-dir)");

    [Fact]
    public void EveryProblemInAFile_IsReportedAtOnce_InFileOrder() => AssertErrors("""
        bogus = true
        [vm]
        memory_mib = 8
        vcpus = "two"
        kernel = "vmlinuz"
        colour = "red"

        [[device]]
        kind = "virtio-gpu"

        [[device]]
        kind = "disk"
        size = 3

        [[device]]
        path = "x"

        [[device]]
        kind = "gadget"
        queues = 99
        mode = "turbo"
        """,
        "vmm.toml(1,1): error: unknown top-level key 'bogus'; settings go in the [vm] table or in [[device]] tables",
        "vmm.toml(3,14): error: memory_mib: 8 is out of range 16..65536",
        "vmm.toml(4,9): error: vcpus: expected an integer, got a string",
        "vmm.toml(5,10): error: kernel: file not found: 'vmlinuz' (resolved to {dir}/vmlinuz)",
        "vmm.toml(6,1): error: unknown key 'colour' in [vm]; valid keys: memory_mib, vcpus, kernel, initramfs, cmdline, plugins_dir",
        "vmm.toml(9,8): error: unknown device kind 'virtio-gpu'; available kinds: disk, fragile, gadget, pvpanic",
        "vmm.toml(11,1): error: missing required key 'path' for device kind 'disk'",
        "vmm.toml(13,1): error: unknown key 'size' for device kind 'disk'; valid keys: kind, path, readonly",
        "vmm.toml(15,1): error: missing required key 'kind' in [[device]]",
        "vmm.toml(20,10): error: queues: 99 is out of range 1..16",
        "vmm.toml(21,8): error: mode: 'turbo' is not one of off, fast-path");

    [Fact]
    public void CommandLineOverrides_AreValidated_AndNameTheOption()
    {
        var errors = Errors("""
            [vm]
            kernel = "bzImage"
            vcpus = 100
            """, new ConfigOverrides { MemoryMib = 8, Vcpus = 65, Kernel = "/nonexistent/vmlinuz" });
        Assert.Equal(
        [
            "error: --memory: 8 is out of range 16..65536",
            "error: --vcpus: 65 is out of range 1..64",
            "error: --kernel: file not found: '/nonexistent/vmlinuz'",
            "vmm.toml(3,9): error: vcpus: 100 is out of range 1..64",
        ], errors);
    }

    [Fact]
    public void MissingPluginsDirOption_NamesTheOption()
    {
        var errors = Errors("[vm]\nkernel = \"bzImage\"\n", new ConfigOverrides { PluginsDir = "/nonexistent/plugins" });
        Assert.Equal(["error: --plugins-dir: directory not found: '/nonexistent/plugins'"], errors);
    }

    [Fact]
    public void MissingConfigFile_IsAnErrorWithoutPosition()
    {
        var missing = _dir.Combine("nope.toml");
        var result = ConfigLoader.Load(missing, TestPlugins.All);
        Assert.Equal([$"error: config file not found: '{missing}'"], result.Diagnostics.Select(d => d.ToString()));
    }

    [Fact]
    public void FileNameInMessages_IsThePathAsGiven()
    {
        var path = _dir.Write("sub/my vm.toml", "[vm]\nkernel = \"nope\"\n");
        var result = ConfigLoader.Load(path, TestPlugins.All);
        Assert.Equal([$"{path}(2,10): error: kernel: file not found: 'nope' (resolved to {_dir.Combine("sub", "nope")})"],
            result.Diagnostics.Select(d => d.ToString()));
    }
}
