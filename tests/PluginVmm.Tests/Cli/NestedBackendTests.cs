using System.Buffers.Binary;
using Microsoft.Extensions.Logging.Abstractions;
using PluginVmm.Cli;
using PluginVmm.Core.Hosting;
using PluginVmm.Nested;
using PluginVmm.Tests.Config;
using Xunit;

namespace PluginVmm.Tests.Cli;

/// <summary>
/// The choice between the host's KVM and the nested helper, what the helper is handed, and what is refused before
/// anything starts. The helper itself is replaced by a recorder here; the guest tests run through the real one.
/// </summary>
public sealed class NestedBackendTests : IDisposable
{
    private static readonly KvmProbeResult Pvm = new(KvmAvailability.EmulatedOnly, "/dev/kvm is kvm_pvm, which only emulates instructions and cannot run a Linux guest");
    private static readonly KvmProbeResult Hardware = new(KvmAvailability.Usable, "/dev/kvm is a hardware KVM");
    private readonly TempDirectory _dir = new();
    private readonly List<string[]> _nestedRuns = [];

    public NestedBackendTests()
    {
        _dir.Write("bzImage", "kernel");
        Directory.CreateDirectory(_dir.Combine("plugins"));
    }

    public void Dispose() => _dir.Dispose();

    private (int Code, string Err, FakeVmRunner Runner) Invoke(KvmProbeResult kvm, params string[] args)
    {
        var error = new StringWriter();
        var runner = new FakeVmRunner();
        var env = new CliEnvironment
        {
            Out = new StringWriter(),
            Error = error,
            Runner = runner,
            CreateLoggerFactory = _ => NullLoggerFactory.Instance,
            HostDirectory = _dir.Path,
            ProbeKvm = () => kvm,
            RunNested = (a, _) =>
            {
                _nestedRuns.Add(a);
                return 7;
            },
        };
        var code = new VmmCommandLine(env).InvokeAsync(args).GetAwaiter().GetResult();
        return (code, error.ToString(), runner);
    }

    private string Toml(string devices = "") =>
        _dir.Write("vmm.toml", $"[vm]\nkernel = \"bzImage\"\nplugins_dir = \"plugins\"\n{devices}");

    [Fact]
    public void Auto_on_an_emulating_kvm_runs_nested_says_why_in_one_line_and_returns_the_helpers_exit_code()
    {
        var (code, err, runner) = Invoke(Pvm, "run", Toml(), "--memory", "64", "--log-level", "Warning");
        Assert.Equal(7, code);
        Assert.Empty(runner.Runs);
        var notice = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("vmm: /dev/kvm is kvm_pvm, which only emulates instructions and cannot run a Linux guest; running the VM inside " +
                     "the nested helper (QEMU TCG with nested SVM). --backend kvm or PLUGINVMM_BACKEND=kvm uses the host's KVM anyway.", notice);
        Assert.Equal(["run", _dir.Combine("vmm.toml"), "--backend", "kvm", "--memory", "64", "--log-level", "Warning"], Assert.Single(_nestedRuns));
    }

    [Fact]
    public void Auto_on_a_hardware_kvm_runs_directly()
    {
        var (code, err, runner) = Invoke(Hardware, "run", Toml());
        Assert.Equal(0, code);
        Assert.Single(runner.Runs);
        Assert.Empty(_nestedRuns);
        Assert.DoesNotContain("nested", err);
    }

    [Fact]
    public void Backend_option_forces_either_way_without_a_notice()
    {
        var (kvmCode, kvmErr, kvmRunner) = Invoke(Pvm, "run", Toml(), "--backend", "kvm");
        Assert.Equal(0, kvmCode);
        Assert.Single(kvmRunner.Runs);
        var (nestedCode, nestedErr, nestedRunner) = Invoke(Hardware, "run", Toml(), "--backend", "nested");
        Assert.Equal(7, nestedCode);
        Assert.Empty(nestedRunner.Runs);
        Assert.DoesNotContain("vmm:", kvmErr + nestedErr);
    }

    [Fact]
    public void A_bad_backend_name_is_a_user_error_before_anything_runs()
    {
        var (code, err, runner) = Invoke(Hardware, "run", Toml(), "--backend", "qemu");
        Assert.Equal(ExitCodes.ConfigError, code);
        Assert.Equal("error: --backend: 'qemu' is not a backend; use auto, kvm or nested\n", err);
        Assert.Empty(runner.Runs);
        Assert.Empty(_nestedRuns);
    }

    [Fact]
    public void Config_errors_are_reported_the_same_before_the_backend_is_chosen()
    {
        var (code, err, _) = Invoke(Pvm, "run", _dir.Write("bad.toml", "[vm]\nkernel = \"bzImage\"\nplugins_dir = \"plugins\"\nvcpus = 0\n"));
        Assert.Equal(ExitCodes.ConfigError, code);
        Assert.Equal($"{_dir.Combine("bad.toml")}(4,9): error: vcpus: 0 is out of range 1..64\n", err);
        Assert.Empty(_nestedRuns);
    }

    [Fact]
    public void Memory_beyond_the_helper_is_refused_before_it_starts()
    {
        var (code, err, _) = Invoke(Pvm, "run", Toml(), "--memory", $"{HelperVm.MemoryMib}");
        Assert.Equal(ExitCodes.ConfigError, code);
        Assert.Contains($"memory_mib: {HelperVm.MemoryMib} MiB does not fit the nested helper's {HelperVm.MemoryMib} MiB", err);
        Assert.Contains("PLUGINVMM_NESTED_MEMORY_MIB", err);
        Assert.Empty(_nestedRuns);
    }

    [Theory]
    [InlineData("auto", 0)]
    [InlineData("kvm", 1)]
    [InlineData("nested", 2)]
    public void Backend_names_parse(string text, int kind)
    {
        Assert.Equal((BackendKind)kind, Backend.Parse(text, "PLUGINVMM_BACKEND", out var error));
        Assert.Null(error);
    }

    [Fact]
    public void Kvm_probe_tells_absent_emulating_and_hardware_kvm_apart()
    {
        var modules = _dir.Combine("module");
        var node = _dir.Write("kvm");
        Directory.CreateDirectory(Path.Combine(modules, "kvm"));
        Assert.Equal(KvmAvailability.Absent, KvmProbe.Probe(_dir.Combine("none"), modules).Availability);
        Assert.Contains("the kvm module is loaded", KvmProbe.Probe(_dir.Combine("none"), modules).Reason);

        Directory.CreateDirectory(Path.Combine(modules, "kvm_pvm"));
        var pvm = KvmProbe.Probe(node, modules);
        Assert.Equal(KvmAvailability.EmulatedOnly, pvm.Availability);
        Assert.False(pvm.CanRunLinux);

        Directory.CreateDirectory(Path.Combine(modules, "kvm_amd"));
        Assert.True(KvmProbe.Probe(node, modules).CanRunLinux);
    }

    [Fact]
    public async Task Frames_round_trip_and_a_truncated_or_oversized_frame_is_an_error_not_data()
    {
        var buffer = new MemoryStream();
        using (var writer = new FrameStream(new NonClosing(buffer)))
        {
            await writer.WriteAsync(FrameType.Stdout, "PCI 00"u8.ToArray());
            await writer.WriteAsync(FrameType.Exit, 4);
        }
        buffer.Position = 0;
        using (var reader = new FrameStream(new NonClosing(buffer)))
        {
            Assert.Equal("PCI 00", (await reader.ReadAsync())!.Value.Text);
            Assert.Equal(4, (await reader.ReadAsync())!.Value.Int32);
            Assert.Null(await reader.ReadAsync());
        }

        var truncated = new MemoryStream(buffer.ToArray()[..8]);
        await Assert.ThrowsAsync<InvalidDataException>(() => new FrameStream(truncated).ReadAsync());
        var huge = new byte[5];
        huge[0] = (byte)FrameType.Stdout;
        BinaryPrimitives.WriteInt32LittleEndian(huge.AsSpan(1), NestedProtocol.MaxPayload + 1);
        await Assert.ThrowsAsync<InvalidDataException>(() => new FrameStream(new MemoryStream(huge)).ReadAsync());
    }

    [Fact]
    public void The_image_key_covers_both_embedded_scripts()
    {
        Assert.Contains("build-image.sh", HelperPaths.ReadScript("build-image.sh"));
        Assert.Contains("nested-agent", HelperPaths.ReadScript("helper-init.sh"));
        Assert.Matches("^[0-9a-f]{16}$", HelperPaths.ImageKey);
    }

    private sealed class NonClosing(Stream inner) : Stream
    {
        public override bool CanRead => inner.CanRead;
        public override bool CanSeek => false;
        public override bool CanWrite => inner.CanWrite;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => inner.Position = value; }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
    }
}
