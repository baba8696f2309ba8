using PluginVmm.Cli;
using PluginVmm.Core.Hosting;

// The VM runner is the one seam between the command line and KVM: replace PendingVmRunner with the real runner.
IVmRunner runner = new PendingVmRunner();
return await new VmmCommandLine(CliEnvironment.ForProcess(runner)).InvokeAsync(args);
