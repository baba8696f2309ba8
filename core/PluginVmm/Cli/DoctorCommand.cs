using System.CommandLine;
using System.Diagnostics;
using PluginVmm.Core.Hosting;
using PluginVmm.Nested;

namespace PluginVmm.Cli;

/// <summary><c>vmm doctor</c>: what this host offers a VM (KVM, the nested backend's parts, its cache and helper).</summary>
internal sealed class DoctorCommand
{
    private readonly CliEnvironment _env;
    private readonly Option<bool> _stopHelper = new("--stop-helper") { Description = "Stop the warm nested helper now" };

    public DoctorCommand(CliEnvironment env)
    {
        _env = env;
        Command = new Command("doctor", "Show what this host offers: KVM, the nested backend, its cache and helper") { _stopHelper };
        Command.SetAction(Run);
    }

    public Command Command { get; }

    private int Run(ParseResult result)
    {
        var o = _env.Out;
        var paths = HelperPaths.ForUser();
        var helper = new HelperVm(paths, _env.Error);
        if (result.GetValue(_stopHelper))
        {
            helper.Stop();
            o.WriteLine("helper:     stopped");
            return 0;
        }
        var kvm = _env.ProbeKvm();
        string verdict = kvm.Availability switch
        {
            KvmAvailability.Usable => "usable",
            KvmAvailability.EmulatedOnly => "emulated only",
            KvmAvailability.Absent => "absent",
            _ => "no access",
        };
        o.WriteLine($"kvm:        {verdict}: {kvm.Reason}");
        o.WriteLine($"backend:    vmm run uses {(kvm.CanRunLinux ? "kvm (the host's)" : "nested (the helper VM)")} in auto mode; " +
                    $"{Backend.Option} or {Backend.EnvironmentVariable} chooses");
        o.WriteLine($"qemu:       {Version("qemu-system-x86_64", "--version") ?? "not installed (apt-get install qemu-system-x86)"}");
        o.WriteLine($"virtiofsd:  {HelperVm.Virtiofsd ?? "not installed (apt-get install qemu-system-common)"}");
        var image = HelperImage.Verify(paths.Image);
        o.WriteLine($"cache:      {paths.Root}, {Size(paths.Root) / (1 << 20)} MiB; image {HelperPaths.ImageKey}: " +
                    (image is null ? $"ready (kernel {HelperImage.KernelVersion(paths.Image)})" : $"not built ({image}); the first nested run builds it"));
        if (helper.ReadPid() is { } pid && HelperVm.IsHelperProcess(pid))
        {
            var rss = File.ReadAllLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))?[6..].Trim();
            var welcome = helper.Probe() is { } endpoint ? HelperVm.Ping(endpoint, TimeSpan.FromSeconds(5)) : null;
            o.WriteLine($"helper:     running (QEMU pid {pid}, RSS {rss}" +
                        (welcome is null ? ", not answering)" : $", up {welcome.UptimeSeconds:F0} s, {welcome.Sessions} VM(s) running)") +
                        $"; stops {HelperVm.IdleSeconds} s after its last VM (PLUGINVMM_NESTED_IDLE_S)");
        }
        else
        {
            o.WriteLine("helper:     not running");
        }
        return 0;
    }

    private static string? Version(string file, string arg)
    {
        try
        {
            var start = new ProcessStartInfo(file, arg) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(start);
            if (p is null) return null;
            var first = p.StandardOutput.ReadLine();
            p.WaitForExit();
            return first;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    private static long Size(string dir) =>
        Directory.Exists(dir) ? new DirectoryInfo(dir).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length) : 0;
}
