using System.CommandLine;
using System.Globalization;

namespace PluginVmm.Nested;

/// <summary><c>vmm nested-agent --state DIR --idle S</c>: the helper's side of the nested backend (hidden).</summary>
internal static class AgentCommand
{
    public static Command Create()
    {
        var state = new Option<string>("--state") { Required = true, Description = "The helper's state folder (holds the token)" };
        var idle = new Option<string?>("--idle") { Description = "Seconds without a run before the helper powers off" };
        var command = new Command("nested-agent", "The agent inside the nested helper VM") { state, idle };
        command.Hidden = true;
        command.SetAction((result, cancellationToken) =>
        {
            var token = File.ReadAllText(Path.Combine(result.GetValue(state)!, "token")).Trim();
            int seconds = int.TryParse(result.GetValue(idle), NumberStyles.None, CultureInfo.InvariantCulture, out var s) ? s : 300;
            return new NestedAgent(token, TimeSpan.FromSeconds(Math.Max(seconds, 1)), Console.Out).RunAsync(cancellationToken);
        });
        return command;
    }
}
