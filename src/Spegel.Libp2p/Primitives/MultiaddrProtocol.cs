namespace Spegel.Libp2p.Primitives;

/// <summary>How a multiaddr component's value is encoded.</summary>
public enum MultiaddrValueKind
{
    None,
    Ip4,
    Ip6,
    Port,
    LengthPrefixedText,
    LengthPrefixedPeerId,
    LengthPrefixedBytes,
}

/// <summary>A multiaddr protocol: name, code (multicodec table) and value encoding (multiaddr protocols.csv).</summary>
public sealed record MultiaddrProtocol(string Name, ulong Code, MultiaddrValueKind Kind)
{
    public static readonly MultiaddrProtocol Ip4 = new("ip4", 4, MultiaddrValueKind.Ip4);
    public static readonly MultiaddrProtocol Tcp = new("tcp", 6, MultiaddrValueKind.Port);
    public static readonly MultiaddrProtocol Udp = new("udp", 273, MultiaddrValueKind.Port);
    public static readonly MultiaddrProtocol Ip6 = new("ip6", 41, MultiaddrValueKind.Ip6);
    public static readonly MultiaddrProtocol P2p = new("p2p", 421, MultiaddrValueKind.LengthPrefixedPeerId);

    private static readonly MultiaddrProtocol[] All =
    [
        Ip4, Tcp, Udp, Ip6, P2p,
        new("dccp", 33, MultiaddrValueKind.Port),
        new("ip6zone", 42, MultiaddrValueKind.LengthPrefixedText),
        new("ipcidr", 43, MultiaddrValueKind.LengthPrefixedBytes),
        new("dns", 53, MultiaddrValueKind.LengthPrefixedText),
        new("dns4", 54, MultiaddrValueKind.LengthPrefixedText),
        new("dns6", 55, MultiaddrValueKind.LengthPrefixedText),
        new("dnsaddr", 56, MultiaddrValueKind.LengthPrefixedText),
        new("sctp", 132, MultiaddrValueKind.Port),
        new("p2p-webrtc-star", 275, MultiaddrValueKind.None),
        new("webrtc-direct", 280, MultiaddrValueKind.None),
        new("webrtc", 281, MultiaddrValueKind.None),
        new("p2p-circuit", 290, MultiaddrValueKind.None),
        new("udt", 301, MultiaddrValueKind.None),
        new("utp", 302, MultiaddrValueKind.None),
        new("unix", 400, MultiaddrValueKind.LengthPrefixedText),
        new("https", 443, MultiaddrValueKind.None),
        new("tls", 448, MultiaddrValueKind.None),
        new("sni", 449, MultiaddrValueKind.LengthPrefixedText),
        new("noise", 454, MultiaddrValueKind.None),
        new("quic", 460, MultiaddrValueKind.None),
        new("quic-v1", 461, MultiaddrValueKind.None),
        new("webtransport", 465, MultiaddrValueKind.None),
        new("certhash", 466, MultiaddrValueKind.LengthPrefixedBytes),
        new("ws", 477, MultiaddrValueKind.None),
        new("wss", 478, MultiaddrValueKind.None),
        new("http", 480, MultiaddrValueKind.None),
    ];

    private static readonly Dictionary<string, MultiaddrProtocol> ByName = All.ToDictionary(p => p.Name, StringComparer.Ordinal);
    private static readonly Dictionary<ulong, MultiaddrProtocol> ByCode = All.ToDictionary(p => p.Code);

    public static MultiaddrProtocol? FromName(string name) => name == "ipfs" ? P2p : ByName.GetValueOrDefault(name);

    public static MultiaddrProtocol? FromCode(ulong code) => ByCode.GetValueOrDefault(code);
}
