using System.Net;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Muxing;

namespace Spegel.Libp2p.Transport;

public sealed record HostOptions
{
    public required PrivateKey Identity { get; init; }

    /// <summary>TCP endpoints to listen on (port 0 picks one).</summary>
    public IReadOnlyList<IPEndPoint> Listen { get; init; } = [];

    /// <summary>Announce loopback addresses (tests on one machine). Spegel never announces loopback.</summary>
    public bool AnnounceLoopback { get; init; }

    public TimeSpan DialTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Limit for the whole upgrade of a connection (multistream, Noise, muxer).</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Limit for negotiating a protocol on a new stream.</summary>
    public TimeSpan NegotiationTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public int MaxConnections { get; init; } = 1024;

    /// <summary>Inbound connections being upgraded at once; more are dropped.</summary>
    public int MaxPendingHandshakes { get; init; } = 64;

    /// <summary>
    /// The key of the libp2p private network this host belongs to: every connection, dialed or accepted, is
    /// encrypted with it before multistream-select, and peers without it cannot connect. Null: the public wire.
    /// </summary>
    public Pnet.SwarmKey? PrivateNetwork { get; init; }

    public string AgentVersion { get; init; } = "spegel-dotnet";

    public YamuxOptions Yamux { get; init; } = new();

    public TimeProvider Time { get; init; } = TimeProvider.System;
}
