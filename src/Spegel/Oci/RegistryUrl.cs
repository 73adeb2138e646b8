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

    public static bool TryParse(string text, bool allowWildcard, out RegistryUrl? url, out string? error)
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

        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || !text.Contains("://", StringComparison.Ordinal))
        {
            error = $"'{text}': expected an http:// or https:// URL such as https://docker.io";
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
            error = $"'{text}': {string.Join("; ", problems)}";
            return false;
        }

        // Keep the host as written (with its port, if any): it names the hosts.toml folder.
        url = new RegistryUrl(uri.Scheme, host);
        error = null;
        return true;
    }

    /// <summary>Parses a list; an empty list is the wildcard when allowed. Reports every bad entry at once.</summary>
    public static IReadOnlyList<RegistryUrl> ParseList(IReadOnlyList<string> values, bool allowWildcard, List<string> errors)
    {
        if (values.Count == 0 && allowWildcard)
        {
            return [Wildcard];
        }

        var result = new List<RegistryUrl>();
        foreach (string value in values)
        {
            if (TryParse(value, allowWildcard, out var url, out string? error))
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
