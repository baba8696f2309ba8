using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace PluginVmm.Cli;

/// <summary>Option factories with messages that name the option, as config errors name the key.</summary>
internal static class CliOptions
{
    /// <summary>An integer option; a non-integer value is a parse error ("--memory: 'lots' is not an integer").</summary>
    public static Option<long?> Integer(string name, string description, string helpName) => new(name)
    {
        Description = description,
        HelpName = helpName,
        CustomParser = result => Parse(result, name),
    };

    private static long? Parse(ArgumentResult result, string name)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
        if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)) return value;
        result.AddError($"{name}: '{text}' is not an integer");
        return null;
    }
}
