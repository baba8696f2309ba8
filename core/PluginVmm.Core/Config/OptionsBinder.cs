using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using Tomlyn.Syntax;

namespace PluginVmm.Core.Config;

/// <summary>
/// Binds the keys of one TOML table to an options object by its <see cref="OptionsSchema"/>: unknown and duplicate
/// keys, wrong types, [Required] keys that are missing and failed validation attributes ([Range] and the others)
/// each become one diagnostic; binding goes on after a problem so all of them are reported together.
/// </summary>
internal static class OptionsBinder
{
    /// <param name="section">The table.</param>
    /// <param name="instance">Receives the values.</param>
    /// <param name="reservedKeys">Keys the caller handles itself (a device's <c>kind</c>).</param>
    /// <param name="where">Names the table in messages: "in [vm]", "for device kind 'pvpanic'".</param>
    /// <param name="diagnostics">Collects problems.</param>
    /// <param name="pathBase">Folder that relative [PathOption] values resolve against.</param>
    /// <returns>True when every key bound and every check passed.</returns>
    public static bool Bind(TomlSection section, object instance, IReadOnlyCollection<string> reservedKeys, string where,
        DiagnosticList diagnostics, string pathBase)
    {
        var schema = OptionsSchema.For(instance.GetType());
        var before = diagnostics.Count;
        var seen = new Dictionary<string, TomlEntry>(StringComparer.Ordinal);
        foreach (var entry in section.Entries)
        {
            if (seen.TryGetValue(entry.Key, out var first))
            {
                diagnostics.Add(entry.KeyNode, $"duplicate key '{entry.Key}' {where} (first set at line {first.KeyNode.Span.Start.Line + 1})");
                continue;
            }
            seen.Add(entry.Key, entry);
            if (reservedKeys.Contains(entry.Key)) continue;

            var option = schema.Find(entry.Key);
            if (option is null)
            {
                var valid = reservedKeys.Concat(schema.Properties.Select(p => p.Key)).ToList();
                var hint = valid.Count == 0 ? "it takes no keys" : $"valid keys: {string.Join(", ", valid)}";
                diagnostics.Add(entry.KeyNode, $"unknown key '{entry.Key}' {where}; {hint}");
                continue;
            }
            // A [Range] says more than the width of the property's type, so it is checked on the raw integer first.
            if (entry.Value is IntegerValueSyntax integer
                && option.Checks.OfType<RangeAttribute>().Select(r => RangeFailure(r, integer.Value)).FirstOrDefault(f => f is not null) is { } outOfRange)
            {
                diagnostics.Add(entry.Value, $"{entry.Key}: {outOfRange}");
                continue;
            }
            if (!TomlValueConverter.TryConvert(entry.Value, option.Property.PropertyType, entry.Key, diagnostics, out var value)) continue;
            if (!Check(option, value, entry.Key, entry.Value, diagnostics)) continue;
            if (option.IsPath && value is string { Length: > 0 } path)
            {
                if (ConfigPaths.SyntaxProblem(path) is { } bad)
                {
                    diagnostics.Add(entry.Value, $"{entry.Key}: {bad}");
                    continue;
                }
                value = ConfigPaths.Resolve(pathBase, path);
            }
            Set(option, instance, value, entry, diagnostics);
        }

        foreach (var option in schema.Properties.Where(p => p.Required is not null && !seen.ContainsKey(p.Key)))
        {
            var message = $"missing required key '{option.Key}' {where}";
            if (section.Header is null) diagnostics.AddAtFileStart(message);
            else diagnostics.Add(section.Header, message);
        }
        return diagnostics.Count == before;
    }

    /// <summary>
    /// Runs the validation attributes of <paramref name="option"/> on a converted value. <paramref name="at"/> is
    /// the value in the file, or null for a command-line value (the message then has no position).
    /// </summary>
    public static bool Check(OptionProperty option, object? value, string label, SyntaxNodeBase? at, DiagnosticList diagnostics)
    {
        var ok = true;
        if (option.Required is { AllowEmptyStrings: false } && value is string text && string.IsNullOrWhiteSpace(text))
        {
            Report($"{label}: must not be empty");
            return false;
        }
        if (value is null) return true;
        foreach (var check in option.Checks)
        {
            var failure = check is RangeAttribute range ? RangeFailure(range, value) : OtherFailure(check, value, option.Key);
            if (failure is null) continue;
            Report($"{label}: {failure}");
            ok = false;
        }
        return ok;

        void Report(string message)
        {
            if (at is null) diagnostics.AddWithoutLocation(message);
            else diagnostics.Add(at, message);
        }
    }

    private static string? RangeFailure(RangeAttribute range, object value)
    {
        var numericOperand = range.OperandType == typeof(int) || range.OperandType == typeof(double);
        if (numericOperand && !range.MinimumIsExclusive && !range.MaximumIsExclusive && TryDecimal(value, out var number)
            && TryDecimal(range.Minimum, out var min) && TryDecimal(range.Maximum, out var max))
        {
            return number >= min && number <= max
                ? null
                : $"{Format(value)} is out of range {Format(range.Minimum)}..{Format(range.Maximum)}";
        }
        return OtherFailure(range, value, "value");
    }

    private static string? OtherFailure(ValidationAttribute check, object value, string key)
    {
        try
        {
            var context = new ValidationContext(value) { DisplayName = key };
            var result = check.GetValidationResult(value, context);
            return result == ValidationResult.Success ? null : result?.ErrorMessage ?? $"invalid value {Format(value)}";
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FormatException
            or InvalidCastException or OverflowException or NotSupportedException)
        {
            return $"cannot check {Format(value)}: {e.Message}";
        }
    }

    private static bool TryDecimal(object? value, out decimal number)
    {
        number = 0;
        if (value is null or string or bool || value is double d && !double.IsFinite(d) || value is float f && !float.IsFinite(f)) return false;
        try
        {
            number = Convert.ToDecimal(value, CultureInfo.InvariantCulture);
            return true;
        }
        catch (Exception e) when (e is InvalidCastException or OverflowException or FormatException)
        {
            return false;
        }
    }

    private static string Format(object? value) => value switch
    {
        string s => $"'{s}'",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value?.ToString() ?? "null",
    };

    private static void Set(OptionProperty option, object instance, object? value, TomlEntry entry, DiagnosticList diagnostics)
    {
        try
        {
            option.Property.SetValue(instance, value);
        }
        catch (TargetInvocationException e)
        {
            // A plugin setter that validates by throwing: report its reason at the value, like any other check.
            diagnostics.Add(entry.Value, $"{entry.Key}: {e.InnerException?.Message ?? e.Message}");
        }
    }
}
