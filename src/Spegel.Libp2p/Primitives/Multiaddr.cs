using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Spegel.Libp2p.Primitives;

/// <summary>One component of a multiaddr: a protocol and its raw value bytes.</summary>
public sealed record MultiaddrComponent(MultiaddrProtocol Protocol, byte[] Value)
{
    public string ValueText => Protocol.Kind switch
    {
        MultiaddrValueKind.None => string.Empty,
        MultiaddrValueKind.Ip4 or MultiaddrValueKind.Ip6 => new IPAddress(Value).ToString(),
        MultiaddrValueKind.Port => BinaryPrimitives.ReadUInt16BigEndian(Value).ToString(CultureInfo.InvariantCulture),
        MultiaddrValueKind.LengthPrefixedText => Encoding.UTF8.GetString(Value),
        MultiaddrValueKind.LengthPrefixedPeerId => Multibase.ToBase58(Value),
        _ => "b" + Multibase.ToBase32(Value),
    };
}

/// <summary>
/// A multiaddr (specs multiaddr): text <c>/ip4/10.0.0.5/tcp/5001/p2p/12D3…</c> or binary <c>varint(code) value…</c>.
/// Every protocol of the table parses; only <c>/ip4|ip6/…/tcp/…</c> is dialable here, and what cannot be used is
/// skipped by callers, not rejected.
/// </summary>
public sealed class Multiaddr : IEquatable<Multiaddr>
{
    private readonly byte[] _bytes;

    private Multiaddr(IReadOnlyList<MultiaddrComponent> components, byte[] bytes)
    {
        Components = components;
        _bytes = bytes;
    }

    public IReadOnlyList<MultiaddrComponent> Components { get; }

    public ReadOnlySpan<byte> Bytes => _bytes;

    public byte[] ToArray() => (byte[])_bytes.Clone();

    public static Multiaddr Create(IEnumerable<MultiaddrComponent> components)
    {
        var list = components.ToList();
        var bytes = new List<byte>();
        foreach (var c in list)
        {
            bytes.AddRange(Varint.Encode(c.Protocol.Code));
            if (c.Protocol.Kind is MultiaddrValueKind.LengthPrefixedText or MultiaddrValueKind.LengthPrefixedPeerId or MultiaddrValueKind.LengthPrefixedBytes)
            {
                bytes.AddRange(Varint.Encode((ulong)c.Value.Length));
            }

            bytes.AddRange(c.Value);
        }

        return new Multiaddr(list, [.. bytes]);
    }

    /// <summary><c>/ip4|ip6/&lt;ip&gt;/tcp/&lt;port&gt;</c>.</summary>
    public static Multiaddr FromEndPoint(IPEndPoint endPoint)
    {
        var ip = endPoint.Address.IsIPv4MappedToIPv6 ? endPoint.Address.MapToIPv4() : endPoint.Address;
        var ipProtocol = ip.AddressFamily == AddressFamily.InterNetwork ? MultiaddrProtocol.Ip4 : MultiaddrProtocol.Ip6;
        byte[] port = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(port, (ushort)endPoint.Port);
        return Create([new MultiaddrComponent(ipProtocol, ip.GetAddressBytes()), new MultiaddrComponent(MultiaddrProtocol.Tcp, port)]);
    }

    public static Multiaddr Parse(string text) =>
        TryParse(text, out var addr, out string? error) ? addr! : throw new FormatException(error);

    public static bool TryParse(string text, out Multiaddr? multiaddr, out string? error)
    {
        multiaddr = null;
        if (string.IsNullOrEmpty(text) || text[0] != '/' || text.Length > 1024)
        {
            error = "a multiaddr starts with / (e.g. /ip4/10.0.0.5/tcp/5001)";
            return false;
        }

        string[] parts = text.TrimEnd('/').Split('/');
        var components = new List<MultiaddrComponent>();
        for (int i = 1; i < parts.Length; i++)
        {
            var protocol = MultiaddrProtocol.FromName(parts[i]);
            if (protocol is null)
            {
                error = $"unknown multiaddr protocol '{parts[i]}'";
                return false;
            }

            if (protocol.Kind == MultiaddrValueKind.None)
            {
                components.Add(new MultiaddrComponent(protocol, []));
                continue;
            }

            if (++i >= parts.Length)
            {
                error = $"/{protocol.Name} needs a value";
                return false;
            }

            string value = protocol.Kind == MultiaddrValueKind.LengthPrefixedText && protocol.Name == "unix"
                ? "/" + string.Join('/', parts[i..])
                : parts[i];
            if (!TryEncodeValue(protocol, value, out byte[]? bytes, out error))
            {
                return false;
            }

            components.Add(new MultiaddrComponent(protocol, bytes!));
            if (protocol.Name == "unix")
            {
                break;
            }
        }

        if (components.Count == 0)
        {
            error = "empty multiaddr";
            return false;
        }

        multiaddr = Create(components);
        error = null;
        return true;
    }

    /// <summary>Decodes the binary form; false for truncated input or an unknown protocol code.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> data, out Multiaddr? multiaddr)
    {
        multiaddr = null;
        if (data.IsEmpty || data.Length > 1024)
        {
            return false;
        }

        var components = new List<MultiaddrComponent>();
        int offset = 0;
        while (offset < data.Length)
        {
            if (!Varint.TryRead(data[offset..], out ulong code, out int n))
            {
                return false;
            }

            offset += n;
            var protocol = MultiaddrProtocol.FromCode(code);
            if (protocol is null)
            {
                return false;
            }

            int size = protocol.Kind switch
            {
                MultiaddrValueKind.None => 0,
                MultiaddrValueKind.Ip4 => 4,
                MultiaddrValueKind.Ip6 => 16,
                MultiaddrValueKind.Port => 2,
                _ => -1,
            };
            if (size < 0)
            {
                if (!Varint.TryRead(data[offset..], out ulong length, out int m) || length > (ulong)(data.Length - offset - m))
                {
                    return false;
                }

                offset += m;
                size = (int)length;
            }

            if (offset + size > data.Length)
            {
                return false;
            }

            byte[] value = data.Slice(offset, size).ToArray();
            if (protocol.Kind == MultiaddrValueKind.LengthPrefixedPeerId && !Multihash.TryParse(value, out _))
            {
                return false;
            }

            components.Add(new MultiaddrComponent(protocol, value));
            offset += size;
        }

        multiaddr = new Multiaddr(components, data.ToArray());
        return true;
    }

    /// <summary>The IP address when the first component is ip4 or ip6 (how Spegel derives a peer's registry host).</summary>
    public IPAddress? Ip =>
        Components.Count > 0 && Components[0].Protocol.Kind is MultiaddrValueKind.Ip4 or MultiaddrValueKind.Ip6 ? new IPAddress(Components[0].Value) : null;

    /// <summary><c>/ip4|ip6/…/tcp/…</c> as an endpoint, else null (DNS, UDP, QUIC, … are skipped).</summary>
    public IPEndPoint? TcpEndPoint =>
        Ip is { } ip && Components.Count >= 2 && Components[1].Protocol == MultiaddrProtocol.Tcp
            ? new IPEndPoint(ip, BinaryPrimitives.ReadUInt16BigEndian(Components[1].Value))
            : null;

    /// <summary>The <c>/p2p/</c> peer ID, if any.</summary>
    public PeerId? PeerId => Components.LastOrDefault(c => c.Protocol == MultiaddrProtocol.P2p) is { } p && Primitives.PeerId.TryFromBytes(p.Value, out var id) ? id : null;

    /// <summary>This address without its <c>/p2p/…</c> suffix.</summary>
    public Multiaddr WithoutPeerId() => Create(Components.Where(c => c.Protocol != MultiaddrProtocol.P2p));

    public Multiaddr WithPeerId(PeerId id) => Create([.. WithoutPeerId().Components, new MultiaddrComponent(MultiaddrProtocol.P2p, id.ToArray())]);

    public override string ToString()
    {
        var sb = new StringBuilder();
        foreach (var c in Components)
        {
            sb.Append('/').Append(c.Protocol.Name);
            if (c.Protocol.Kind != MultiaddrValueKind.None)
            {
                string value = c.ValueText;
                if (!(c.Protocol.Name == "unix" && value.StartsWith('/')))
                {
                    sb.Append('/');
                }

                sb.Append(value);
            }
        }

        return sb.ToString();
    }

    public bool Equals(Multiaddr? other) => other is not null && _bytes.AsSpan().SequenceEqual(other._bytes);

    public override bool Equals(object? obj) => Equals(obj as Multiaddr);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_bytes);
        return hash.ToHashCode();
    }

    private static bool TryEncodeValue(MultiaddrProtocol protocol, string value, out byte[]? bytes, out string? error)
    {
        bytes = null;
        error = null;
        switch (protocol.Kind)
        {
            case MultiaddrValueKind.Ip4:
                if (IPAddress.TryParse(value, out var ip4) && ip4.AddressFamily == AddressFamily.InterNetwork && value.Count(c => c == '.') == 3)
                {
                    bytes = ip4.GetAddressBytes();
                    return true;
                }

                error = $"'{value}' is not an IPv4 address";
                return false;
            case MultiaddrValueKind.Ip6:
                if (IPAddress.TryParse(value, out var ip6) && ip6.AddressFamily == AddressFamily.InterNetworkV6)
                {
                    bytes = ip6.GetAddressBytes();
                    return true;
                }

                error = $"'{value}' is not an IPv6 address";
                return false;
            case MultiaddrValueKind.Port:
                if (ushort.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out ushort port))
                {
                    bytes = new byte[2];
                    BinaryPrimitives.WriteUInt16BigEndian(bytes, port);
                    return true;
                }

                error = $"'{value}' is not a port (0–65535)";
                return false;
            case MultiaddrValueKind.LengthPrefixedPeerId:
                if (Primitives.PeerId.TryParse(value, out var id))
                {
                    bytes = id!.ToArray();
                    return true;
                }

                error = $"'{value}' is not a peer ID";
                return false;
            case MultiaddrValueKind.LengthPrefixedText:
                if (value.Length == 0)
                {
                    error = $"/{protocol.Name} needs a value";
                    return false;
                }

                bytes = Encoding.UTF8.GetBytes(value);
                return true;
            default:
                if (value.Length > 1 && value[0] is 'b' or 'B' && Multibase.TryFromBase32(value.AsSpan(1), out byte[] raw))
                {
                    bytes = raw;
                    return true;
                }

                if (value.Length > 1 && value[0] == 'u')
                {
                    try
                    {
                        bytes = Convert.FromBase64String(value[1..].Replace('-', '+').Replace('_', '/').PadRight((value.Length + 2) / 4 * 4, '='));
                        return true;
                    }
                    catch (FormatException)
                    {
                    }
                }

                error = $"'{value}' is not a multibase value";
                return false;
        }
    }
}
