namespace PluginVmm.Core.Config;

/// <summary>
/// One user-input problem. With a file it prints as <c>vmm.toml(3,14): error: message</c> (1-based line and
/// column, the file name as the user gave it); without one (command-line options) as <c>error: message</c>.
/// </summary>
public sealed record ConfigDiagnostic(string? File, int Line, int Column, string Message)
{
    /// <summary>A problem that is not tied to a position in a file, e.g. a bad command-line option.</summary>
    public static ConfigDiagnostic WithoutLocation(string message) => new(null, 0, 0, message);

    /// <inheritdoc/>
    public override string ToString() =>
        File is null ? $"error: {OneLine(Message)}" : $"{File}({Line},{Column}): error: {OneLine(Message)}";

    // Messages quote what the user wrote, and a TOML string may hold any control character ("\n", "\u0000"): shown
    // escaped, one problem stays one line of output.
    private static string OneLine(string message)
    {
        if (!message.Any(char.IsControl)) return message;
        var text = new System.Text.StringBuilder(message.Length + 8);
        foreach (char c in message)
        {
            if (!char.IsControl(c)) text.Append(c);
            else text.Append(c switch { '\n' => "\\n", '\r' => "\\r", '\t' => "\\t", _ => $"\\u{(int)c:x4}" });
        }
        return text.ToString();
    }
}
