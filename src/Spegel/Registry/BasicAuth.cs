using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;

namespace Spegel.Registry;

/// <summary>
/// Optional Basic auth for the registry API, from the files <c>username</c> and <c>password</c> in a folder
/// (<c>/etc/secrets/basic-auth</c>, a mounted Kubernetes secret), used byte for byte as Spegel uses them
/// (<c>pkg/httpx/userinfo.go</c>): nothing is trimmed (a trailing newline is part of the secret), a missing or empty
/// file counts as empty, and auth is on when either is non-empty: <c>user</c> alone gives <c>Basic base64("user:")</c>,
/// a password alone <c>Basic base64(":pw")</c>. The same bytes make the header in <c>hosts.toml</c>, the header sent
/// to peers and the credentials this node expects, so nodes of either implementation accept each other.
/// </summary>
internal sealed class BasicAuth
{
    private readonly byte[]? _username;
    private readonly byte[]? _password;

    private BasicAuth(byte[]? username, byte[]? password)
    {
        if (username is { Length: > 0 } || password is { Length: > 0 })
        {
            _username = username ?? [];
            _password = password ?? [];
            HeaderValue = "Basic " + Convert.ToBase64String([.. _username, (byte)':', .. _password]);
        }
    }

    public static BasicAuth None { get; } = new(null, null);

    public bool Enabled => _username is not null;

    /// <summary>The <c>Authorization</c> header value clients must send, or null when auth is off.</summary>
    public string? HeaderValue { get; }

    /// <summary>
    /// Loads the credentials. A missing folder or file is no credential (as in Spegel); a file that exists but cannot
    /// be read, or a path that is not a folder, is an error naming the file.
    /// </summary>
    /// <exception cref="InvalidOperationException">A file exists but cannot be read.</exception>
    public static BasicAuth Load(string folder)
    {
        if (string.IsNullOrEmpty(folder))
        {
            throw new InvalidOperationException("--basic-auth-dir (BASIC_AUTH_DIR) is empty: name the folder holding username and password");
        }

        return new BasicAuth(ReadOptional(Path.Combine(folder, "username")), ReadOptional(Path.Combine(folder, "password")));
    }

    public bool IsAuthorized(HttpRequest request)
    {
        if (_username is null || _password is null)
        {
            return true;
        }

        // As Go's Request.BasicAuth: scheme "Basic" in any case, strict base64, split at the first colon.
        string? header = request.Headers.Authorization;
        if (header is null || header.Length < 6 || !header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        byte[] decoded;
        try
        {
            decoded = Convert.FromBase64String(header[6..]);
        }
        catch (FormatException)
        {
            return false;
        }

        int colon = Array.IndexOf(decoded, (byte)':');
        if (colon < 0)
        {
            return false;
        }

        bool user = CryptographicOperations.FixedTimeEquals(decoded.AsSpan(0, colon), _username);
        bool password = CryptographicOperations.FixedTimeEquals(decoded.AsSpan(colon + 1), _password);
        return user & password;
    }

    private static byte[]? ReadOptional(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"cannot read {path}: {ex.Message} (check --basic-auth-dir / BASIC_AUTH_DIR)", ex);
        }
    }
}
