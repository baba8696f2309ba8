using PluginVmm.Cli;
using PluginVmm.Tests.Config;
using Xunit;

namespace PluginVmm.Tests.Cli;

/// <summary>`vmm publish DIR` on a fake installed host: layout, launcher, and the folders it refuses.</summary>
public sealed class HostPublisherTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly string _host;

    public HostPublisherTests()
    {
        _host = _dir.Combine("host");
        _dir.Write("host/vmm.dll", "host");
        _dir.Write("host/vmm.runtimeconfig.json", "{}");
        _dir.Write("host/vmm", "an apphost that the launcher replaces");
        _dir.Write("host/plugins/PvPanic/PvPanic.dll", "plugin");
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void Publish_CopiesHostAndPlugins_AndWritesAnExecutableShLauncher()
    {
        var target = _dir.Combine("out");
        Assert.Null(HostPublisher.Publish(_host, target));
        Assert.Equal("host", File.ReadAllText(Path.Combine(target, "vmm.dll")));
        Assert.True(File.Exists(Path.Combine(target, "vmm.runtimeconfig.json")));
        Assert.Equal("plugin", File.ReadAllText(Path.Combine(target, "plugins", "PvPanic", "PvPanic.dll")));
        var launcher = File.ReadAllText(Path.Combine(target, "vmm"));
        Assert.StartsWith("#!/bin/sh\n", launcher);
        Assert.Contains("exec \"$dotnet\" \"$here/vmm.dll\" \"$@\"", launcher);
        Assert.True(File.GetUnixFileMode(Path.Combine(target, "vmm")).HasFlag(UnixFileMode.UserExecute));
    }

    [Fact]
    public void Republish_ReplacesThePluginsFolder()
    {
        var target = _dir.Combine("out");
        Assert.Null(HostPublisher.Publish(_host, target));
        Directory.CreateDirectory(Path.Combine(target, "plugins", "Stale"));
        Assert.Null(HostPublisher.Publish(_host, target));
        Assert.Equal(["PvPanic"], Directory.GetDirectories(Path.Combine(target, "plugins")).Select(d => Path.GetFileName(d)));
    }

    [Fact]
    public void Publish_RefusesANonEmptyFolderThatIsNoInstall_AndTheHostsOwnFolder()
    {
        _dir.Write("elsewhere/notes.txt", "keep me");
        Assert.Equal($"'{_dir.Combine("elsewhere")}' is not empty and holds no earlier vmm install; choose a new or empty folder",
            HostPublisher.Publish(_host, _dir.Combine("elsewhere")));
        Assert.Contains("overlaps the running host's folder", HostPublisher.Publish(_host, Path.Combine(_host, "sub")));
        Assert.Contains("overlaps the running host's folder", HostPublisher.Publish(_host, _dir.Path));
        Assert.Equal("keep me", File.ReadAllText(_dir.Combine("elsewhere", "notes.txt")));
    }
}
