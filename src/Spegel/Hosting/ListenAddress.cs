using System.Globalization;
using System.Net;

namespace Spegel.Hosting;

/// <summary>
/// A listen address in Go's <c>host:port</c> form; an empty host (<c>:5000</c>) means every interface. The host is an
/// IP address, <c>localhost</c> (loopback) or empty: other names are refused when the flag is read, so every listener
/// (registry, router, metrics, /id) binds exactly what was asked, never a silent fallback.
/// </summary>
internal sealed record ListenAddress(string Host, int Port)
{
    public bool IsAnyHost => Host.Length == 0 || Host is "0.0.0.0" or "::";

    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    public IPEndPoint? TryGetEndPoint() =>
        IsAnyHost ? new IPEndPoint(IPAddress.IPv6Any, Port)
        : IsLocalhost ? null
        : IPAddress.TryParse(Host, out var ip) ? new IPEndPoint(ip, Port) : null;

    /// <summary><c>localhost</c>: loopback of both families (Kestrel's ListenLocalhost).</summary>
    public bool IsLocalhost => string.Equals(Host, "localhost", StringComparison.OrdinalIgnoreCase);

    public static bool TryParse(string text, out ListenAddress? address)
    {
        address = null;
        int colon = text.LastIndexOf(':');
        if (colon < 0)
        {
            return false;
        }

        string host = text[..colon];
        string port = text[(colon + 1)..];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
            if (!IPAddress.TryParse(host, out _))
            {
                return false;
            }
        }
        else if (host.Contains(':', StringComparison.Ordinal))
        {
            return false;
        }
        else if (host.Length > 0 && !string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase) && !IPAddress.TryParse(host, out _))
        {
            return false; // a host name other than localhost: we would not know which address to bind
        }

        if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out int p) || p > 65535)
        {
            return false;
        }

        address = new ListenAddress(host, p);
        return true;
    }
}
