using System.Net;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Muxing;
using Spegel.Libp2p.Primitives;

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

    /// <summary>
    /// Connections at once. When an inbound connection completes its handshake at the limit, the least useful one goes:
    /// unidentified first, then peers outside the routing table, from the source IP holding the most; routing-table
    /// peers are kept.
    /// </summary>
    public int MaxConnections { get; init; } = 1024;

    /// <summary>
    /// Inbound connections from one IP address at once. A Spegel node has one libp2p identity per IP, so a handful is
    /// plenty; 32 lets a few nodes share a NAT address while one address can hold 3 % of <see cref="MaxConnections"/>.
    /// </summary>
    public int MaxConnectionsPerIp { get; init; } = 32;

    /// <summary>
    /// Inbound connections being upgraded at once. When full, a newcomer from an IP holding fewer takes the slot of the
    /// oldest handshake of the IP holding the most; otherwise it is dropped.
    /// </summary>
    public int MaxPendingHandshakes { get; init; } = 64;

    /// <summary>
    /// The key of the libp2p private network this host belongs to: every connection, dialed or accepted, is
    /// encrypted with it before multistream-select, and peers without it cannot connect. Null: the public wire.
    /// </summary>
    public Pnet.SwarmKey? PrivateNetwork { get; init; }

    /// <summary>
    /// Inbound handshakes from one IP address at once: a peer dials us once at a time (twice when both sides dial), so
    /// one address cannot take more than an eighth of <see cref="MaxPendingHandshakes"/>.
    /// </summary>
    public int MaxPendingHandshakesPerIp { get; init; } = 8;

    /// <summary>
    /// How long an inbound connection may stay silent: the dialer speaks first (multistream-select, or the private
    /// network's nonce), at once, so a socket that sends nothing for this long is dropped before it holds a handshake
    /// slot for the whole <see cref="HandshakeTimeout"/>.
    /// </summary>
    public TimeSpan FirstByteTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Refused connections are logged at Warning at most once per this interval, with a count; the rest at Debug.</summary>
    public TimeSpan RefusalLogInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Bytes of DHT and identify messages one connection may hold while they arrive: one answer of the largest size
    /// (4 MiB) and its requests. Over it, the stream is reset.
    /// </summary>
    public long MessageBytesPerConnection { get; init; } = 5 * 1024 * 1024;

    /// <summary>
    /// Bytes of messages all connections together may hold while they arrive, past each connection's
    /// <see cref="MessageBytesGuaranteed"/>: a quarter of the chart's 128 MiB memory limit.
    /// </summary>
    public long MessageBytesInFlight { get; init; } = 32 * 1024 * 1024;

    /// <summary>
    /// Bytes every connection may hold whatever the others do: a peer's small requests (DHT requests are under 1 KiB) get
    /// through while someone fills <see cref="MessageBytesInFlight"/>. 1024 connections × 16 KiB = 16 MiB at most.
    /// </summary>
    public long MessageBytesGuaranteed { get; init; } = 16 * 1024;

    public string AgentVersion { get; init; } = "spegel-dotnet";

    /// <summary>
    /// Addresses announced after the listeners' own: where a host that listens nowhere is reached (the nodes of the
    /// bench's in-memory DHT simulation, whose messages never touch a socket).
    /// </summary>
    internal IReadOnlyList<Multiaddr> AnnounceAlso { get; init; } = [];

    public YamuxOptions Yamux { get; init; } = new();

    public TimeProvider Time { get; init; } = TimeProvider.System;
}
