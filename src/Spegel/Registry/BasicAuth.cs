using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Spegel.Registry;

/// <summary>
/// Optional Basic auth for the registry API, from the files <c>username</c> and <c>password</c> in a folder
/// (<c>/etc/secrets/basic-auth</c>, a mounted Kubernetes secret). Both missing means no auth.
/// </summary>
internal sealed class BasicAuth
{
    private readonly byte[]? _expected;

    private BasicAuth(string? username, string? password)
    {
        if (username is not null && password is not null)
        {
            Username = username;
            _expected = Encoding.UTF8.GetBytes($"{username}:{password}");
        }
    }

    public static BasicAuth None { get; } = new(null, null);

    public bool Enabled => _expected is not null;

    public string? Username { get; }

    /// <summary>Loads the credentials; one file without the other is a configuration error.</summary>
    public static BasicAuth Load(string folder)
    {
        string userFile = Path.Combine(folder, "username");
        string passwordFile = Path.Combine(folder, "password");
        bool hasUser = File.Exists(userFile), hasPassword = File.Exists(passwordFile);
        if (!hasUser && !hasPassword)
        {
            return None;
        }

        if (hasUser != hasPassword)
        {
            throw new InvalidOperationException($"basic auth needs both {userFile} and {passwordFile}; only one exists");
        }

        return new BasicAuth(File.ReadAllText(userFile).TrimEnd('\r', '\n'), File.ReadAllText(passwordFile).TrimEnd('\r', '\n'));
    }

    /// <summary>The <c>Authorization</c> header value clients must send, or null when auth is off.</summary>
    public string? HeaderValue => _expected is null ? null : "Basic " + Convert.ToBase64String(_expected);

    public bool IsAuthorized(HttpRequest request)
    {
        if (_expected is null)
        {
            return true;
        }

        string? header = request.Headers.Authorization;
        if (header is null || !header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        byte[] given;
        try
        {
            given = Convert.FromBase64String(header[6..].Trim());
        }
        catch (FormatException)
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(given, _expected);
    }
}
