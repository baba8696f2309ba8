using PluginVmm.Core.Config;
using Xunit;

namespace PluginVmm.Tests.Config;

/// <summary>Valid files: what ends up in <see cref="VmConfig"/> and in each device's options.</summary>
public sealed class ConfigBindingTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public ConfigBindingTests()
    {
        _dir.Write("bzImage", "kernel");
        _dir.Write("initrd.img", "initramfs");
        _dir.Write("images/disk.img", "disk");
        Directory.CreateDirectory(_dir.Combine("my-plugins"));
    }

    public void Dispose() => _dir.Dispose();

    private VmConfig Load(string toml, ConfigOverrides? overrides = null)
    {
        var result = ConfigLoader.Load(ConfigLoader.Parse(toml, "vmm.toml", _dir.Path, overrides), TestPlugins.All);
        Assert.Empty(result.Diagnostics.Select(d => d.ToString()));
        return result.Config!;
    }

    [Fact]
    public void MinimalFile_GetsDefaults()
    {
        var config = Load("[vm]\nkernel = \"bzImage\"\n");
        Assert.Equal(256, config.MemoryMib);
        Assert.Equal(256UL << 20, config.MemoryBytes);
        Assert.Equal(1, config.Vcpus);
        Assert.Equal("console=ttyS0", config.Cmdline);
        Assert.Null(config.InitramfsPath);
        Assert.Equal(ConfigLoader.DefaultPluginsDir, config.PluginsDir);
        Assert.Empty(config.Devices);
        Assert.Equal("vmm.toml", config.ConfigPath);
        Assert.Equal(_dir.Path, config.ConfigDirectory);
    }

    [Fact]
    public void VmTable_BindsEveryKey_AndResolvesPathsAgainstTheFilesFolder()
    {
        var config = Load("""
            [vm]
            memory_mib = 1024
            vcpus = 4
            kernel = "bzImage"
            initramfs = "./initrd.img"
            cmdline = "console=ttyS0 quiet"
            plugins_dir = "my-plugins"
            """);
        Assert.Equal(1024, config.MemoryMib);
        Assert.Equal(4, config.Vcpus);
        Assert.Equal(_dir.Combine("bzImage"), config.KernelPath);
        Assert.Equal(_dir.Combine("initrd.img"), config.InitramfsPath);
        Assert.Equal("console=ttyS0 quiet", config.Cmdline);
        Assert.Equal(_dir.Combine("my-plugins"), config.PluginsDir);
    }

    [Fact]
    public void EmptyCmdline_StaysEmpty()
    {
        Assert.Equal("", Load("[vm]\nkernel = \"bzImage\"\ncmdline = \"\"\n").Cmdline);
    }

    [Fact]
    public void Overrides_ReplaceFileValues()
    {
        var kernel = _dir.Write("other/vmlinuz", "k");
        var config = Load("""
            [vm]
            kernel = "bzImage"
            memory_mib = 512
            vcpus = 2
            cmdline = "from-file"
            """, new ConfigOverrides { Kernel = kernel, Cmdline = "from-cli", MemoryMib = 2048, Vcpus = 8, PluginsDir = _dir.Combine("my-plugins") });
        Assert.Equal(kernel, config.KernelPath);
        Assert.Equal("from-cli", config.Cmdline);
        Assert.Equal(2048, config.MemoryMib);
        Assert.Equal(8, config.Vcpus);
        Assert.Equal(_dir.Combine("my-plugins"), config.PluginsDir);
    }

    [Fact]
    public void KernelOverride_MakesAFileWithoutKernelValid()
    {
        var config = Load("", new ConfigOverrides { Kernel = _dir.Combine("bzImage") });
        Assert.Equal(_dir.Combine("bzImage"), config.KernelPath);
    }

    [Fact]
    public void Devices_AreBoundInFileOrder_WithNamesPerKind_AndTheirLocation()
    {
        var config = Load("""
            [vm]
            kernel = "bzImage"

            [[device]]
            kind = "pvpanic"

            [[device]]
            kind = "disk"
            path = "images/disk.img"

            [[device]]
            kind = "pvpanic"
            """);
        Assert.Equal(["pvpanic0", "disk0", "pvpanic1"], config.Devices.Select(d => d.Name));
        Assert.Equal(["pvpanic", "disk", "pvpanic"], config.Devices.Select(d => d.Kind));
        Assert.Same(TestPlugins.All["disk"], config.Devices[1].Plugin);
        Assert.Equal(new ConfigLocation("vmm.toml", 7, 1), config.Devices[1].Location);
        var disk = Assert.IsType<DiskOptions>(config.Devices[1].Options);
        Assert.Equal(_dir.Combine("images", "disk.img"), disk.Path);
        Assert.False(disk.Readonly);
    }

    [Fact]
    public void DeviceOptions_BindEverySupportedType()
    {
        var config = Load("""
            [vm]
            kernel = "bzImage"
            [[device]]
            mode = "fast_path"
            kind = "gadget"
            queues = 4
            slot = 255
            base = 0xfe00_0000
            ratio = 3
            tags = ["a", "b"]
            ports = [80, 443]
            name = "short"
            """);
        var gadget = Assert.IsType<GadgetOptions>(Assert.Single(config.Devices).Options);
        Assert.Equal(4, gadget.Queues);
        Assert.Equal(255, gadget.Slot);
        Assert.Equal(0xfe00_0000UL, gadget.Base);
        Assert.Equal(3.0, gadget.Ratio);
        Assert.Equal(GadgetMode.FastPath, gadget.Mode);
        Assert.Equal(["a", "b"], gadget.Tags);
        Assert.Equal([80, 443], gadget.Ports);
        Assert.Equal("short", gadget.Name);
    }

    [Fact]
    public void EnumValues_IgnoreCaseAndSeparators()
    {
        foreach (var spelling in new[] { "fast-path", "FastPath", "FAST_PATH" })
        {
            var config = Load($"[vm]\nkernel = \"bzImage\"\n[[device]]\nkind = \"gadget\"\nqueues = 2\nmode = \"{spelling}\"\n");
            Assert.Equal(GadgetMode.FastPath, ((GadgetOptions)config.Devices[0].Options).Mode);
        }
    }

    [Fact]
    public void AbsentOptionalKeys_KeepThePluginsDefaults()
    {
        var config = Load("[vm]\nkernel = \"bzImage\"\n[[device]]\nkind = \"gadget\"\n");
        var gadget = (GadgetOptions)config.Devices[0].Options;
        Assert.Equal(1, gadget.Queues);
        Assert.Null(gadget.Base);
        Assert.Equal(1.0, gadget.Ratio);
        Assert.Empty(gadget.Tags);
    }

    [Fact]
    public void EachDevice_GetsItsOwnOptionsInstance()
    {
        var config = Load("[vm]\nkernel = \"bzImage\"\n[[device]]\nkind = \"gadget\"\nqueues = 2\n[[device]]\nkind = \"gadget\"\nqueues = 3\n");
        Assert.Equal([2, 3], config.Devices.Select(d => ((GadgetOptions)d.Options).Queues));
    }

    [Fact]
    public void ReadFromFile_ResolvesAgainstTheFilesFolder_NotTheCurrentDirectory()
    {
        var path = _dir.Write("vms/test.toml", "[vm]\nkernel = \"../bzImage\"\n[[device]]\nkind = \"disk\"\npath = \"../images/disk.img\"\n");
        var result = ConfigLoader.Load(path, TestPlugins.All);
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        Assert.Equal(_dir.Combine("bzImage"), result.Config!.KernelPath);
        Assert.Equal(_dir.Combine("vms"), result.Config.ConfigDirectory);
        Assert.Equal(_dir.Combine("images", "disk.img"), ((DiskOptions)result.Config.Devices[0].Options).Path);
    }

    [Fact]
    public void ReadThenLoad_CanBindTwice_WithoutSharingDiagnostics()
    {
        var document = ConfigLoader.Parse("[vm]\nkernel = \"bzImage\"\n[[device]]\nkind = \"late\"\n", "vmm.toml", _dir.Path);
        Assert.Empty(document.Diagnostics);
        var withoutPlugin = ConfigLoader.Load(document, TestPlugins.All);
        Assert.Single(withoutPlugin.Diagnostics);
        var plugins = new Dictionary<string, PluginVmm.Sdk.Plugins.IDevicePlugin>(TestPlugins.All) { ["late"] = TestPlugins.All["pvpanic"] };
        Assert.True(ConfigLoader.Load(document, plugins).Succeeded);
    }
}
