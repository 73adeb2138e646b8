namespace Spegel.Registry;

internal enum RangeOutcome
{
    /// <summary>No Range header, a unit other than bytes, or several ranges: answer 200 with the whole body.</summary>
    Whole,

    /// <summary>One satisfiable range: answer 206 with <see cref="RangeRequest.Start"/>..<see cref="RangeRequest.End"/>.</summary>
    Partial,

    /// <summary>No byte of the range exists: answer 416 with <c>Content-Range: bytes */size</c>.</summary>
    Unsatisfiable,

    /// <summary>A <c>bytes=</c> header we cannot parse: answer 416 RANGE_INVALID.</summary>
    Malformed,
}

/// <summary>
/// A parsed <c>Range</c> header for one blob (RFC 9110 §14). Decisions:
/// <list type="bullet">
/// <item>several ranges (<c>bytes=0-1,5-6</c>) are answered with the whole blob and 200, which RFC 9110 §14.2 allows;
/// no registry client asks for multipart/byteranges, and containerd's multipart fetch sends one range per request;</item>
/// <item>a syntactically broken <c>bytes=</c> value is 416 RANGE_INVALID rather than silently ignored, so a buggy
/// client learns at once;</item>
/// <item>units other than <c>bytes</c> are ignored (RFC 9110 requires it).</item>
/// </list>
/// </summary>
internal readonly record struct RangeRequest(RangeOutcome Outcome, long Start, long End)
{
    public long Length => End - Start + 1;

    public static RangeRequest Parse(string? header, long size)
    {
        if (string.IsNullOrWhiteSpace(header))
        {
            return new(RangeOutcome.Whole, 0, size - 1);
        }

        ReadOnlySpan<char> value = header.AsSpan().Trim();
        int eq = value.IndexOf('=');
        if (eq < 0)
        {
            return new(RangeOutcome.Malformed, 0, 0);
        }

        if (!value[..eq].Trim().Equals("bytes", StringComparison.OrdinalIgnoreCase))
        {
            return new(RangeOutcome.Whole, 0, size - 1);
        }

        ReadOnlySpan<char> set = value[(eq + 1)..].Trim();
        if (set.Contains(','))
        {
            // Validate every part so garbage is still reported as malformed, then serve the whole body.
            foreach (var part in set.Split(','))
            {
                if (!TryParseSpec(set[part].Trim(), out _, out _))
                {
                    return new(RangeOutcome.Malformed, 0, 0);
                }
            }

            return new(RangeOutcome.Whole, 0, size - 1);
        }

        if (!TryParseSpec(set, out long? first, out long? last))
        {
            return new(RangeOutcome.Malformed, 0, 0);
        }

        if (first is null)
        {
            // Suffix range: the last N bytes.
            long n = last!.Value;
            if (n == 0 || size == 0)
            {
                return new(RangeOutcome.Unsatisfiable, 0, 0);
            }

            return new(RangeOutcome.Partial, Math.Max(0, size - n), size - 1);
        }

        if (first.Value >= size)
        {
            return new(RangeOutcome.Unsatisfiable, 0, 0);
        }

        long end = last is null ? size - 1 : Math.Min(last.Value, size - 1);
        return new(RangeOutcome.Partial, first.Value, end);
    }

    /// <summary><c>first-last</c>, <c>first-</c> or <c>-suffix</c>, digits only, first ≤ last.</summary>
    private static bool TryParseSpec(ReadOnlySpan<char> spec, out long? first, out long? last)
    {
        first = null;
        last = null;
        int dash = spec.IndexOf('-');
        if (dash < 0)
        {
            return false;
        }

        var a = spec[..dash].Trim();
        var b = spec[(dash + 1)..].Trim();
        if (a.IsEmpty && b.IsEmpty)
        {
            return false;
        }

        if (!a.IsEmpty)
        {
            if (!TryParseDigits(a, out long f))
            {
                return false;
            }

            first = f;
        }

        if (!b.IsEmpty)
        {
            if (!TryParseDigits(b, out long l))
            {
                return false;
            }

            last = l;
        }

        return first is null || last is null || first <= last;
    }

    private static bool TryParseDigits(ReadOnlySpan<char> s, out long value)
    {
        value = 0;
        if (s.IsEmpty || s.Length > 18)
        {
            return false;
        }

        foreach (char c in s)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }

            value = (value * 10) + (c - '0');
        }

        return true;
    }
}
