using System.CommandLine;
using PluginVmm.Cli;
using PluginVmm.Core.Hosting;

namespace PluginVmm.Nested;

/// <summary>
/// <c>vmm nested-exec [--env K=V]... -- PROGRAM ARGS...</c>: one command in the nested helper, in this folder, its
/// output here and its exit code ours. For what needs the helper's real KVM or its VFIO function (QEMU's edu bound
/// to vfio-pci, named by <c>$PLUGINVMM_HELPER_VFIO</c> there) other than <c>vmm run</c>: the VFIO conformance tests.
/// </summary>
internal static class ExecCommand
{
    public static Command Create(CliEnvironment env)
    {
        var environment = new Option<string[]>("--env") { Description = "K=V for the command's environment (repeatable)", HelpName = "K=V" };
        var command = new Argument<string[]>("command") { Arity = ArgumentArity.OneOrMore, Description = "The program and its arguments" };
        var exec = new Command("nested-exec", "Run a command inside the nested helper VM") { environment, command };
        exec.Hidden = true;
        exec.SetAction((result, cancellationToken) => Task.Run(() =>
        {
            var extra = new Dictionary<string, string>();
            foreach (var pair in result.GetValue(environment) ?? [])
            {
                int eq = pair.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    CliOutput.Error(env.Error, $"--env: '{pair}' is not K=V");
                    return ExitCodes.ConfigError;
                }
                extra[pair[..eq]] = pair[(eq + 1)..];
            }
            var argv = result.GetValue(command)!;
            return new NestedRunner(HelperPaths.ForUser(), Console.OpenStandardOutput(), env.Error)
                .Exec(argv[0], argv[1..], extra, cancellationToken);
        }, CancellationToken.None));
        return exec;
    }
}
