using PluginVmm.Cli;
using PluginVmm.Core.Hosting;

// The VM runner is the one seam between the command line and KVM.
StartupTrace.Mark("main");
UnhandledExceptionReport.Install(Console.Error);
var exitCode = await new VmmCommandLine(CliEnvironment.ForProcess(new KvmVmRunner())).InvokeAsync(args);
StartupTrace.Mark("exit");
return exitCode;
