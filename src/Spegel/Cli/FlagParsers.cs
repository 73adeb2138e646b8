using System.Globalization;
using System.Text.RegularExpressions;
using Spegel.Hosting;

namespace Spegel.Cli;

/// <summary>Parsers shared by all flags.</summary>
internal static class FlagParsers
{
    public static bool String(IReadOnlyList<string> values, out string value, out string expected)
    {
        expected = "one value";
        value = values.Count == 1 ? values[0] : string.Empty;
        return values.Count == 1;
    }

    public static bool Strings(IReadOnlyList<string> values, out IReadOnlyList<string> value, out string expected)
    {
        expected = "a list of values";
        value = values.Where(v => v.Length > 0).ToList();
        return true;
    }

    /// <summary><c>--flag</c> alone is true; <c>--flag=false</c> or <c>--flag false</c> as in Go.</summary>
    public static bool Bool(IReadOnlyList<string> values, out bool value, out string expected)
    {
        expected = "true or false";
        value = true;
        if (values.Count == 0)
        {
            return true;
        }

        switch (values.Count == 1 ? values[0].ToLowerInvariant() : null)
        {
            case "true" or "1" or "t":
                value = true;
                return true;
            case "false" or "0" or "f":
                value = false;
                return true;
            default:
                return false;
        }
    }

    public static FlagParser<int> Int(int min, int max) => (IReadOnlyList<string> values, out int value, out string expected) =>
    {
        expected = $"a whole number from {min} to {max}";
        value = 0;
        return values.Count == 1 && int.TryParse(values[0], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value) && value >= min && value <= max;
    };

    public static bool Duration(IReadOnlyList<string> values, out TimeSpan value, out string expected)
    {
        expected = "a positive duration such as 20ms, 1s or 2m";
        value = TimeSpan.Zero;
        return values.Count == 1 && GoDuration.TryParse(values[0], out value) && value > TimeSpan.Zero;
    }

    public static bool Address(IReadOnlyList<string> values, out ListenAddress value, out string expected)
    {
        expected = "an address host:port such as :5000, 10.0.0.5:5000 or [2001:db8::5]:5000 (the host is an IP address, localhost, or empty for every interface)";
        value = new ListenAddress(string.Empty, 0);
        if (values.Count == 1 && ListenAddress.TryParse(values[0], out var parsed))
        {
            value = parsed!;
            return true;
        }

        return false;
    }

    public static bool OptionalAddress(IReadOnlyList<string> values, out ListenAddress? value, out string expected)
    {
        value = null;
        if (values.Count == 1 && values[0].Length == 0)
        {
            expected = string.Empty;
            return true;
        }

        bool ok = Address(values, out var parsed, out expected);
        value = ok ? parsed : null;
        return ok;
    }

    public static bool Regexes(IReadOnlyList<string> values, out IReadOnlyList<Regex> value, out string expected)
    {
        var list = new List<Regex>();
        value = list;
        foreach (string v in values.Where(v => v.Length > 0))
        {
            try
            {
                list.Add(new Regex(v, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(50)));
            }
            catch (ArgumentException ex)
            {
                expected = $"regular expressions; '{v}' is invalid: {ex.Message}";
                return false;
            }
        }

        expected = string.Empty;
        return true;
    }

    public static FlagParser<T> Enum<T>(params (string Text, T Value)[] choices) => (IReadOnlyList<string> values, out T value, out string expected) =>
    {
        expected = "one of " + string.Join(", ", choices.Select(c => c.Text));
        value = default!;
        if (values.Count != 1)
        {
            return false;
        }

        foreach (var (text, choice) in choices)
        {
            if (string.Equals(values[0], text, StringComparison.OrdinalIgnoreCase))
            {
                value = choice;
                return true;
            }
        }

        return false;
    };

    /// <summary>An IP address, or empty for none (an IPv6 address may come in brackets, as in a URL).</summary>
    public static bool OptionalIp(IReadOnlyList<string> values, out System.Net.IPAddress? value, out string expected)
    {
        expected = "an IP address such as 10.0.0.5 or 2001:db8::5, or empty";
        value = null;
        if (values.Count != 1)
        {
            return false;
        }

        string text = values[0].Trim();
        if (text.Length == 0)
        {
            return true;
        }

        if (text.StartsWith('[') && text.EndsWith(']'))
        {
            text = text[1..^1];
        }

        return System.Net.IPAddress.TryParse(text, out value) && !text.Contains('%', StringComparison.Ordinal) && (text.Contains(':', StringComparison.Ordinal) || text.Count(c => c == '.') == 3);
    }

    public static bool Url(IReadOnlyList<string> values, out Uri? value, out string expected)
    {
        expected = "an absolute http:// or https:// URL";
        value = null;
        if (values.Count == 1 && values[0].Length == 0)
        {
            return true;
        }

        return values.Count == 1 && Uri.TryCreate(values[0], UriKind.Absolute, out value) && value.Scheme is "http" or "https";
    }
}
