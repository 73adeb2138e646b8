using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Spegel.Oci;

namespace Spegel.Hosting;

internal enum BootstrapKind
{
    Dns,
    Http,
    Static,
}

/// <summary>Everything <c>spegel registry</c> was configured with, validated.</summary>
internal sealed record RegistrySettings
{
    public required LogLevel LogLevel { get; init; }

    public required ListenAddress RegistryAddr { get; init; }

    public required ListenAddress RouterAddr { get; init; }

    public required ListenAddress MetricsAddr { get; init; }

    public required string ContainerdSock { get; init; }

    public required string ContainerdNamespace { get; init; }

    /// <summary>Empty: discover through introspection.</summary>
    public required string ContainerdContentPath { get; init; }

    public required string ContainerdRegistryConfigPath { get; init; }

    public required string DataDir { get; init; }

    public required IReadOnlyList<RegistryUrl> MirroredRegistries { get; init; }

    public required IReadOnlyList<Regex> RegistryFilters { get; init; }

    public required TimeSpan MirrorResolveTimeout { get; init; }

    public required int MirrorResolveRetries { get; init; }

    public required bool ResolveLatestTag { get; init; }

    public required TimeSpan MirrorConnectTimeout { get; init; }

    public required long MirrorMinDataRate { get; init; }

    public required TimeSpan MirrorRateGracePeriod { get; init; }

    public required TimeSpan MirrorHedgeDelay { get; init; }

    public required bool DebugWebEnabled { get; init; }

    public required BootstrapKind BootstrapKind { get; init; }

    public required string DnsBootstrapDomain { get; init; }

    public required ListenAddress? HttpBootstrapAddr { get; init; }

    /// <summary>What the http bootstrap fetches: <c>--http-bootstrap-url</c> as given, or <c>--http-bootstrap-peer</c> + <c>/id</c>.</summary>
    public required Uri? HttpBootstrapUrl { get; init; }

    /// <summary>The shape our <c>GET /id</c> answers in: one object when configured like Spegel v0.7 (<c>--http-bootstrap-peer</c>), else a list.</summary>
    public Routing.Bootstrap.IdShape HttpBootstrapIdShape { get; init; } = Routing.Bootstrap.IdShape.List;

    public required string HttpBootstrapCertDir { get; init; }

    public required IReadOnlyList<Libp2p.Primitives.Multiaddr> StaticBootstrapPeers { get; init; }

    public required bool RouterAnnounceLoopback { get; init; }

    /// <summary>
    /// The libp2p private network's pre-shared key (<c>--router-swarm-key-path</c>), its 32 raw bytes; null: the open
    /// network. Every router connection is encrypted with it (Libp2p/Pnet); other features may derive keys from it.
    /// </summary>
    public byte[]? SwarmKey { get; init; }

    /// <summary>Coalesce cold pulls of the same blob into one upstream download (ours; Spegel has no such flag).</summary>
    public bool CoalescePulls { get; init; } = true;

    public required string BasicAuthDir { get; init; }

    /// <summary><c>--node-ip</c>: this node's IP as containerd reaches the registry from it, or null.</summary>
    public System.Net.IPAddress? NodeIp { get; init; }

    /// <summary>
    /// Connections the registry listener holds at once (not a flag). containerd on this node needs about a hundred at
    /// most (three layers per pull by default, several pulls, ranges of one layer in parallel on containerd 2.1); each
    /// peer fetching from this node keeps one per request in flight, pooled for 90 s (<see cref="PeerHttp"/>), so 2,048
    /// leaves room for several hundred peers pulling from this node at once. An idle connection costs a few KiB; beyond
    /// the limit a connection is closed at once and its client asks the next host (containerd its upstream, a peer
    /// another holder).
    /// </summary>
    public int RegistryConnectionLimit { get; init; } = 2048;

    public required bool Preflight { get; init; }
}
