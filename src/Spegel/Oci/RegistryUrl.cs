using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Spegel.Oci;

/// <summary>
/// A registry or mirror URL as given on the command line: <c>http(s)://host[:port]</c>, nothing else. The wildcard
/// (<c>_default</c> or <c>*</c>, or an empty list) means "every registry".
/// </summary>
internal sealed record RegistryUrl(string Scheme, string Host)
{
    public const string WildcardHost = "_default";

    public static readonly RegistryUrl Wildcard = new(string.Empty, WildcardHost);

    public bool IsWildcard => Host == WildcardHost && Scheme.Length == 0;

    public override string ToString() => IsWildcard ? WildcardHost : $"{Scheme}://{Host}";

    /// <summary>
    /// Spegel's rule for an IPv6 host written without brackets (what the chart renders from <c>http://$(NODE_IP):port</c>
    /// on an IPv6 node): when the host part, up to the first <c>/</c>, has two or more colons and no <c>[</c>, the text
    /// before its last colon is the address and the rest the port, so <c>http://2001:db8::5:30020</c> becomes
    /// <c>http://[2001:db8::5]:30020</c>. Anything else is returned unchanged.
    /// </summary>
    public static string BracketIPv6Host(string text)
    {
        int scheme = text.IndexOf("://", StringComparison.Ordinal);
        if (scheme < 0)
        {
            return text;
        }

        int start = scheme + 3;
        int slash = text.IndexOf('/', start);
        string host = slash < 0 ? text[start..] : text[start..slash];
        if (host.Count(c => c == ':') < 2 || host.Contains('[', StringComparison.Ordinal))
        {
            return text;
        }

        int lastColon = host.LastIndexOf(':');
        return $"{text[..start]}[{host[..lastColon]}]{host[lastColon..]}{(slash < 0 ? string.Empty : text[slash..])}";
    }

    /// <summary>
    /// Parses one URL. With <paramref name="bracketIPv6Host"/>, an unbracketed IPv6 host is first bracketed by
    /// <see cref="BracketIPv6Host"/> (mirror targets; errors still quote the text as given).
    /// </summary>
    public static bool TryParse(string text, bool allowWildcard, out RegistryUrl? url, out string? error, bool bracketIPv6Host = false)
    {
        url = null;
        if (text is "_default" or "*")
        {
            if (!allowWildcard)
            {
                error = $"'{text}': a wildcard is not allowed here";
                return false;
            }

            url = Wildcard;
            error = null;
            return true;
        }

        string given = text;
        text = bracketIPv6Host ? BracketIPv6Host(text) : text;
        bool isUri = Uri.TryCreate(text, UriKind.Absolute, out var uri) && IsValidBracketedHost(text);
        if (!isUri || uri!.Scheme is not ("http" or "https") || !text.Contains("://", StringComparison.Ordinal))
        {
            error = !isUri && !ReferenceEquals(text, given)
                ? $"'{given}': read as an IPv6 address and port ('{text}'), but that is not a URL; write the address in brackets with a port, e.g. http://[2001:db8::5]:30020"
                : $"'{given}': expected an http:// or https:// URL such as https://docker.io";
            return false;
        }

        var problems = new List<string>();
        int start = text.IndexOf("://", StringComparison.Ordinal) + 3;
        int hostEnd = text.IndexOfAny(['/', '?', '#'], start);
        string host = hostEnd < 0 ? text[start..] : text[start..hostEnd];
        if (hostEnd >= 0 && text[hostEnd] == '/')
        {
            problems.Add("the path must be empty");
        }

        if (!string.IsNullOrEmpty(uri.Query))
        {
            problems.Add("the query must be empty");
        }

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            problems.Add("user info must be empty (basic auth comes from the secret files)");
        }

        if (!string.IsNullOrEmpty(uri.Fragment))
        {
            problems.Add("the fragment must be empty");
        }

        if (problems.Count > 0)
        {
            error = $"'{given}': {string.Join("; ", problems)}";
            return false;
        }

        // Keep the host as written (with its port, if any): it names the hosts.toml folder.
        url = new RegistryUrl(uri.Scheme, host);
        error = null;
        return true;
    }

    /// <summary>
    /// <see cref="Uri"/> lets odd bracketed hosts through (<c>[::1]]:5000</c>, <c>[::]:</c>): a bracketed host must be an
    /// IPv6 address, optionally followed by <c>:port</c> (1–65535).
    /// </summary>
    private static bool IsValidBracketedHost(string text)
    {
        int start = text.IndexOf("://", StringComparison.Ordinal) + 3;
        if (start < 3 || start >= text.Length || text[start] != '[')
        {
            return true;
        }

        int hostEnd = text.IndexOfAny(['/', '?', '#'], start);
        string host = hostEnd < 0 ? text[start..] : text[start..hostEnd];
        int close = host.IndexOf(']', StringComparison.Ordinal);
        if (close < 0 || !IPAddress.TryParse(host[1..close], out var ip) || ip.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return false;
        }

        string rest = host[(close + 1)..];
        return rest.Length == 0
            || (rest[0] == ':' && rest.Length > 1 && rest.Skip(1).All(char.IsAsciiDigit) && int.TryParse(rest.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out int port) && port is > 0 and <= 65535);
    }

    /// <summary>Parses a list; an empty list is the wildcard when allowed. Reports every bad entry at once.</summary>
    public static IReadOnlyList<RegistryUrl> ParseList(IReadOnlyList<string> values, bool allowWildcard, List<string> errors, bool bracketIPv6Hosts = false)
    {
        if (values.Count == 0 && allowWildcard)
        {
            return [Wildcard];
        }

        var result = new List<RegistryUrl>();
        foreach (string value in values)
        {
            if (TryParse(value, allowWildcard, out var url, out string? error, bracketIPv6Hosts))
            {
                if (url!.IsWildcard && result.Any(r => r.IsWildcard))
                {
                    errors.Add("only one wildcard registry may be given");
                    continue;
                }

                result.Add(url);
            }
            else
            {
                errors.Add(error!);
            }
        }

        return result;
    }
}
