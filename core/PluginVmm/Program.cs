using PluginVmm.Cli;
using PluginVmm.Core.Hosting;

// The VM runner is the one seam between the command line and KVM.
return await new VmmCommandLine(CliEnvironment.ForProcess(new KvmVmRunner())).InvokeAsync(args);
