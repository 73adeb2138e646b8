namespace Spegel.Libp2p.Kademlia;

/// <summary>Kademlia settings; the defaults are Spegel's (P2P-WIRE.md A.3, A.5).</summary>
public sealed record DhtOptions
{
    public const string SpegelProtocol = "/spegel/kad/1.0.0";

    public string ProtocolId { get; init; } = SpegelProtocol;

    /// <summary>Bucket size and replication factor.</summary>
    public int K { get; init; } = 20;

    /// <summary>Concurrent requests of one lookup.</summary>
    public int Alpha { get; init; } = 10;

    /// <summary>How long others' provider records are kept (Spegel: reprovide interval + 2 × max delay = 19 min).</summary>
    public TimeSpan ProvideValidity { get; init; } = TimeSpan.FromMinutes(19);

    /// <summary>How long provider addresses are remembered.</summary>
    public TimeSpan ProviderAddressTtl { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Every local key is provided again once per interval, spread evenly over it.</summary>
    public TimeSpan ReprovideInterval { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>The reprovide sweep is cut into this many slices of the keyspace, one per tick.</summary>
    public int ReprovideSlices { get; init; } = 15;

    /// <summary>Limit for one request to one peer.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the routing table is refreshed with a lookup of ourselves.</summary>
    public TimeSpan RefreshInterval { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How long an idle inbound DHT stream stays open.</summary>
    public TimeSpan ServerIdleTimeout { get; init; } = TimeSpan.FromMinutes(1);

    public const int MaxMessageBytes = 4 * 1024 * 1024;

    public TimeProvider Time { get; init; } = TimeProvider.System;
}
