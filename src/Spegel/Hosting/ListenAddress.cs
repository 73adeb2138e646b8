using System.Globalization;
using System.Net;

namespace Spegel.Hosting;

/// <summary>A listen address in Go's <c>host:port</c> form; an empty host (<c>:5000</c>) means every interface.</summary>
internal sealed record ListenAddress(string Host, int Port)
{
    public bool IsAnyHost => Host.Length == 0 || Host is "0.0.0.0" or "::";

    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";

    public IPEndPoint? TryGetEndPoint() =>
        IsAnyHost ? new IPEndPoint(IPAddress.IPv6Any, Port) : IPAddress.TryParse(Host, out var ip) ? new IPEndPoint(ip, Port) : null;

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

        if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out int p) || p > 65535)
        {
            return false;
        }

        address = new ListenAddress(host, p);
        return true;
    }
}
