using System.Security.Cryptography;
using System.Text;

namespace Spegel.Hosting;

/// <summary>
/// The debug page's anti-CSRF token: 32 random bytes made when the node starts, embedded in the page it serves and
/// required on every <c>POST /debug/web/measure</c>. Another site's page can make a browser send a request to the node
/// but cannot read the node's page (no CORS), so it cannot know the token. Never logged.
/// </summary>
internal sealed class DebugToken
{
    /// <summary>The request header that may carry the token (the form field is <see cref="FormField"/>).</summary>
    public const string Header = "X-Spegel-Debug-Token";

    public const string FormField = "token";

    private readonly byte[] _hash;

    private DebugToken(string value)
    {
        Value = value;
        _hash = SHA256.HashData(Encoding.UTF8.GetBytes(value));
    }

    /// <summary>The token as the page embeds it: base64url, no padding (43 characters).</summary>
    public string Value { get; }

    public static DebugToken Generate() => new(System.Buffers.Text.Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32)));

    /// <summary>
    /// True when <paramref name="candidate"/> is the token. Compared as SHA-256 hashes in fixed time, so neither the
    /// content nor the length of the token leaks through how long a wrong guess takes.
    /// </summary>
    public bool Matches(string? candidate)
    {
        if (string.IsNullOrEmpty(candidate) || candidate.Length > 256)
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(_hash, SHA256.HashData(Encoding.UTF8.GetBytes(candidate)));
    }

    public override string ToString() => "(debug token)";
}
