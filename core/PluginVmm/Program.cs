using PluginVmm.Cli;
using PluginVmm.Core.Hosting;

// The VM runner is the one seam between the command line and KVM.
StartupTrace.Mark("main");
UnhandledExceptionReport.Install(Console.Error);
if (PluginVmm.Nested.Standby.IsRequested)
{
    // Started ahead of a run in the nested helper: no request means the helper's agent went away.
    if (PluginVmm.Nested.Standby.WaitForRun() is not { } run) return 0;
    args = run;
}
var exitCode = await new VmmCommandLine(CliEnvironment.ForProcess(new KvmVmRunner())).InvokeAsync(args);
StartupTrace.Mark("exit");
return exitCode;
