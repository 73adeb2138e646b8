using System.Globalization;

namespace Spegel.Cli;

/// <summary>Durations in Go's syntax (<c>20ms</c>, <c>1.5s</c>, <c>2m</c>, <c>1h30m</c>), as Spegel's flags take them.</summary>
internal static class GoDuration
{
    public static bool TryParse(string text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        ReadOnlySpan<char> s = text.AsSpan().Trim();
        if (s.IsEmpty)
        {
            return false;
        }

        bool negative = false;
        if (s[0] is '-' or '+')
        {
            negative = s[0] == '-';
            s = s[1..];
        }

        if (s is "0")
        {
            return true;
        }

        if (s.IsEmpty)
        {
            return false;
        }

        decimal totalNanoseconds = 0;
        while (!s.IsEmpty)
        {
            int i = 0;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.'))
            {
                i++;
            }

            if (i == 0 || !decimal.TryParse(s[..i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal number))
            {
                return false;
            }

            s = s[i..];
            int j = 0;
            while (j < s.Length && !char.IsAsciiDigit(s[j]) && s[j] != '.')
            {
                j++;
            }

            decimal? unit = s[..j] switch
            {
                "ns" => 1m,
                "us" or "µs" or "μs" => 1_000m,
                "ms" => 1_000_000m,
                "s" => 1_000_000_000m,
                "m" => 60m * 1_000_000_000m,
                "h" => 3600m * 1_000_000_000m,
                _ => null,
            };
            if (unit is null)
            {
                return false;
            }

            s = s[j..];
            try
            {
                totalNanoseconds += number * unit.Value;
            }
            catch (OverflowException)
            {
                return false;
            }
        }

        decimal ticks = totalNanoseconds / 100m;
        if (ticks > TimeSpan.MaxValue.Ticks)
        {
            return false;
        }

        value = TimeSpan.FromTicks((long)ticks * (negative ? -1 : 1));
        return true;
    }

    /// <summary>Formats like Go's <c>time.Duration.String()</c> for the common cases (<c>20ms</c>, <c>2s</c>, <c>1m30s</c>).</summary>
    public static string Format(TimeSpan value)
    {
        if (value == TimeSpan.Zero)
        {
            return "0s";
        }

        if (value < TimeSpan.FromSeconds(1))
        {
            return value.TotalMilliseconds.ToString(CultureInfo.InvariantCulture) + "ms";
        }

        string result = string.Empty;
        if (value.Hours + (value.Days * 24) > 0)
        {
            result += $"{value.Hours + (value.Days * 24)}h";
        }

        if (value.Minutes > 0 || result.Length > 0)
        {
            result += $"{value.Minutes}m";
        }

        double seconds = value.Seconds + (value.Milliseconds / 1000.0);
        return result + seconds.ToString(CultureInfo.InvariantCulture) + "s";
    }
}
