using Microsoft.Extensions.Logging.Abstractions;
using PluginVmm.Cli;
using PluginVmm.Core.Hosting;
using PluginVmm.Tests.Config;
using Xunit;

namespace PluginVmm.Tests.Cli;

/// <summary>The `vmm` command line in-process, with a fake VM runner: exit codes, stderr lines, what reaches the runner.</summary>
public sealed class VmmCommandLineTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly string _noPlugins;

    public VmmCommandLineTests()
    {
        _dir.Write("bzImage", "kernel");
        _noPlugins = _dir.Combine("plugins");
        Directory.CreateDirectory(_noPlugins);
    }

    public void Dispose() => _dir.Dispose();

    private (int Code, string Out, string Err) Invoke(FakeVmRunner runner, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var env = new CliEnvironment
        {
            Out = output,
            Error = error,
            Runner = runner,
            CreateLoggerFactory = _ => NullLoggerFactory.Instance,
            HostDirectory = _dir.Combine("host"),
            // These tests are about the direct runner: on a host without a usable KVM auto would choose the helper.
            ProbeKvm = () => new KvmProbeResult(KvmAvailability.Usable, "test"),
        };
        var code = new VmmCommandLine(env).InvokeAsync(args).GetAwaiter().GetResult();
        return (code, output.ToString(), error.ToString().Replace(_dir.Path, "{dir}"));
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void Run_WithConfigErrors_PrintsEachOnce_ExitsTwo_AndNeverStartsAVm()
    {
        var toml = _dir.Write("vmm.toml", "[vm]\nkernel = \"bzImage\"\nmemory_mib = 1\nvcpus = true\n[[device]]\nkind = \"nope\"\n");
        var runner = new FakeVmRunner();
        var (code, output, error) = Invoke(runner, "run", toml, "--plugins-dir", _noPlugins);
        Assert.Equal(ExitCodes.ConfigError, code);
        Assert.Empty(runner.Runs);
        Assert.Equal("", output);
        Assert.Equal(
        [
            "{dir}/vmm.toml(3,14): error: memory_mib: 1 is out of range 16..65536",
            "{dir}/vmm.toml(4,9): error: vcpus: expected an integer, got a boolean",
            "{dir}/vmm.toml(6,8): error: unknown device kind 'nope'; no device plugins were found in {dir}/plugins",
        ], Lines(error));
    }

    [Fact]
    public void Run_ValidConfig_HandsTheBoundConfigToTheRunner_AndReturnsItsExitCode()
    {
        var toml = _dir.Write("vmm.toml", "[vm]\nkernel = \"bzImage\"\nmemory_mib = 128\n");
        var runner = new FakeVmRunner(exitCode: ExitCodes.DebugExit(0x10));
        var (code, _, error) = Invoke(runner, "run", toml, "--plugins-dir", _noPlugins);
        Assert.Equal("", error);
        Assert.Equal(0x21, code);
        var config = Assert.Single(runner.Runs);
        Assert.Equal(128, config.MemoryMib);
        Assert.Equal(_dir.Combine("bzImage"), config.KernelPath);
        Assert.Equal(_noPlugins, runner.Catalog!.Directory);
    }

    [Fact]
    public void Run_ConfigOption_WorksLikeTheArgument_AndOverridesApply()
    {
        var toml = _dir.Write("vmm.toml", "[vm]\nkernel = \"missing-but-overridden\"\n");
        var runner = new FakeVmRunner();
        var (code, _, error) = Invoke(runner, "run", "--config", toml, "--plugins-dir", _noPlugins,
            "--kernel", _dir.Combine("bzImage"), "--memory", "512", "--vcpus", "2", "--cmdline", "console=hvc0");
        Assert.Equal("", error);
        Assert.Equal(0, code);
        var config = Assert.Single(runner.Runs);
        Assert.Equal((512, 2, "console=hvc0", _dir.Combine("bzImage")), (config.MemoryMib, config.Vcpus, config.Cmdline, config.KernelPath));
    }

    [Fact]
    public void Run_OverrideOutOfRange_NamesTheOption()
    {
        var toml = _dir.Write("vmm.toml", "[vm]\nkernel = \"bzImage\"\n");
        var (code, _, error) = Invoke(new FakeVmRunner(), "run", toml, "--plugins-dir", _noPlugins, "--vcpus", "65");
        Assert.Equal(ExitCodes.ConfigError, code);
        Assert.Equal(["error: --vcpus: 65 is out of range 1..64"], Lines(error));
    }

    [Fact]
    public void Run_NonIntegerOption_IsAParseError_ExitTwo()
    {
        var (code, _, error) = Invoke(new FakeVmRunner(), "run", "x.toml", "--memory", "lots");
        Assert.Equal(ExitCodes.ConfigError, code);
        Assert.Equal(["error: --memory: 'lots' is not an integer", "Run 'vmm --help' for usage."], Lines(error));
    }

    [Fact]
    public void UnknownOptionOrNoCommand_ExitTwo()
    {
        Assert.Equal(ExitCodes.ConfigError, Invoke(new FakeVmRunner(), "run", "x.toml", "--bogus").Code);
        Assert.Equal(ExitCodes.ConfigError, Invoke(new FakeVmRunner()).Code);
    }

    [Fact]
    public void Run_WithoutConfig_OrWithTwoDifferentOnes_ExitsTwo()
    {
        var (code, _, error) = Invoke(new FakeVmRunner(), "run");
        Assert.Equal(ExitCodes.ConfigError, code);
        Assert.Equal(["error: run: no config file; use `vmm run FILE.toml` or `vmm run --config FILE.toml`"], Lines(error));

        (code, _, error) = Invoke(new FakeVmRunner(), "run", "a.toml", "--config", "b.toml");
        Assert.Equal(ExitCodes.ConfigError, code);
        Assert.Equal(["error: run: two config files given ('a.toml' and --config 'b.toml')"], Lines(error));
    }

    [Fact]
    public void Run_MissingConfigFile_ExitsTwo()
    {
        var (code, _, error) = Invoke(new FakeVmRunner(), "run", "no-such.toml");
        Assert.Equal(ExitCodes.ConfigError, code);
        Assert.Equal(["error: config file not found: 'no-such.toml'"], Lines(error));
    }

    [Fact]
    public void Run_RunnerFailure_IsExitOne_WithAMessage()
    {
        var toml = _dir.Write("vmm.toml", "[vm]\nkernel = \"bzImage\"\n");
        var runner = new FakeVmRunner(failure: new InvalidOperationException("KVM_CREATE_VM failed: EBUSY"));
        var (code, _, error) = Invoke(runner, "run", toml, "--plugins-dir", _noPlugins);
        Assert.Equal(ExitCodes.VmmError, code);
        Assert.Equal(["error: vmm failed: KVM_CREATE_VM failed: EBUSY (--log-level debug shows where)"], Lines(error));
    }

    [Fact]
    public void Run_WithARefusedPlugin_DoesNotStartTheVm()
    {
        _dir.Write("bad-plugins/Junk/Junk.dll", "not an assembly");
        var toml = _dir.Write("vmm.toml", "[vm]\nkernel = \"bzImage\"\n");
        var runner = new FakeVmRunner();
        var (code, _, error) = Invoke(runner, "run", toml, "--plugins-dir", _dir.Combine("bad-plugins"));
        Assert.Equal(ExitCodes.ConfigError, code);
        Assert.Empty(runner.Runs);
        var lines = Lines(error);
        Assert.StartsWith("error: plugin Junk: ", lines[0]);
        Assert.Equal("error: not starting a VM while plugins in {dir}/bad-plugins are refused or conflict (see above)", lines[^1]);
    }

    [Fact]
    public void Plugins_EmptyFolder_PrintsTheHeader()
    {
        var (code, output, error) = Invoke(new FakeVmRunner(), "plugins", "--plugins-dir", _noPlugins);
        Assert.Equal(0, code);
        Assert.Equal("", error);
        Assert.Equal(["KIND  ASSEMBLY  VERSION  PATH  DESCRIPTION"], Lines(output));
    }

    [Fact]
    public void Plugins_MissingFolder_ExitsTwo()
    {
        var (code, _, error) = Invoke(new FakeVmRunner(), "plugins", "--plugins-dir", "/nonexistent/plugins");
        Assert.Equal(ExitCodes.ConfigError, code);
        Assert.Equal(["error: --plugins-dir: directory not found: '/nonexistent/plugins'"], Lines(error));
    }

    [Fact]
    public void Publish_FromAFolderWithoutAHost_ExitsTwo()
    {
        var (code, _, error) = Invoke(new FakeVmRunner(), "publish", _dir.Combine("out"));
        Assert.Equal(ExitCodes.ConfigError, code);
        Assert.Equal(["error: publish: no vmm.dll in {dir}/host: this host is not installed as a folder"], Lines(error));
    }
}
