using Spegel.Oci;

namespace Spegel.Mirroring;

/// <summary>How requests are mirrored from peers (SPEC §3.1).</summary>
internal sealed record MirrorOptions
{
    // Defaults, declared once: the command line's flags read them (Cli/RegistryCommand) and so do the properties below.
    public static readonly TimeSpan DefaultResolveTimeout = TimeSpan.FromMilliseconds(20);
    public const int DefaultResolveRetries = 3;
    public static readonly TimeSpan DefaultConnectTimeout = TimeSpan.FromMilliseconds(500);
    public const int DefaultMinDataRate = 256 * 1024;
    public static readonly TimeSpan DefaultRateGracePeriod = TimeSpan.FromSeconds(3);
    public static readonly TimeSpan DefaultHedgeDelay = TimeSpan.FromMilliseconds(300);

    /// <summary>Peers serve their registry on the same port as ours (Spegel's rule).</summary>
    public required int RegistryPort { get; init; }

    /// <summary><c>--mirror-resolve-timeout</c>: the longest wait for the next peer from a lookup.</summary>
    public TimeSpan ResolveTimeout { get; init; } = DefaultResolveTimeout;

    /// <summary>The longest wait for the first peer while the lookup is still running (see <see cref="LookupCache"/>).</summary>
    public TimeSpan FirstPeerTimeout { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary><c>--mirror-resolve-retries</c>: the most peers tried for one request.</summary>
    public int ResolveRetries { get; init; } = DefaultResolveRetries;

    /// <summary>
    /// Peers are on the local network: a connection not made within this, over any of the peer's addresses
    /// (<see cref="PeerDialer"/>), means a dead peer.
    /// </summary>
    public TimeSpan ConnectTimeout { get; init; } = DefaultConnectTimeout;

    /// <summary>Wall-clock limit for the answer to a HEAD or a manifest request (Spegel v0.7: 3 s).</summary>
    public TimeSpan HeaderTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>A blob transfer slower than this over a whole grace period is stalled and moves to the next peer.</summary>
    public long MinDataRate { get; init; } = DefaultMinDataRate;

    private readonly TimeSpan? _blobHeaderTimeout;

    /// <summary>The grace period of the minimum data rate (also, by default, the wait for a blob's response headers).</summary>
    public TimeSpan RateGracePeriod { get; init; } = DefaultRateGracePeriod;

    /// <summary>The wait for a peer's response headers to a blob GET: <see cref="RateGracePeriod"/> unless set.</summary>
    public TimeSpan BlobHeaderTimeout
    {
        get => _blobHeaderTimeout ?? RateGracePeriod;
        init => _blobHeaderTimeout = value;
    }

    /// <summary>Following a download in progress on a peer: no byte for this long is a stall.</summary>
    public TimeSpan InProgressStallLimit { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// An open-ended range (<c>bytes=first-</c>, containerd 2.1's multipart fetch) is asked of peers at most this many
    /// bytes at a time, and never past the end of the client's chunk once its size is known (<see cref="ChunkGrid"/>):
    /// a client that reads one chunk and closes leaves at most this much read in vain.
    /// </summary>
    public long RangeWindow { get; init; } = 8 * 1024 * 1024;

    /// <summary>
    /// At the end of a chunk of an open-ended range (<see cref="ChunkGrid"/>), how long the relay waits for the client
    /// to close (as containerd's chunk worker does) before asking a peer for more: a client that keeps reading waits
    /// this once per chunk.
    /// </summary>
    public TimeSpan ChunkEndGrace { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>A second peer is asked when the first has not answered within this.</summary>
    public TimeSpan HedgeDelay { get; init; } = DefaultHedgeDelay;

    /// <summary>Lookups are cached this long (containerd's multipart fetch asks for one digest many times).</summary>
    public TimeSpan LookupCacheTtl { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The key peer requests are signed with (<see cref="PeerProof"/>), or null. containerd's Basic-auth credentials
    /// are never sent to peers: the DHT names them, and anyone can join the DHT without a swarm key.
    /// </summary>
    public PeerKey? PeerKey { get; init; }

    /// <summary>
    /// How many independent peers (no address in common) must answer a tag with the same manifest before it is served:
    /// 1 where members are admitted (a swarm key), 2 where anyone may join the DHT, so one member cannot hijack a tag.
    /// </summary>
    public int TagConfirmations { get; init; } = 2;

    /// <summary>
    /// New lookups one client (an IPv4 address, an IPv6 /64) may start at once: the distinct digests and tags of a large
    /// pull arrive together (an image of 100 layers is about 100). The rate after the burst is
    /// <see cref="LookupsPerSecondPerClient"/>. containerd asks from one address, its node's (or the CNI gateway's).
    /// </summary>
    public int LookupBurstPerClient { get; init; } = 256;

    /// <summary>New lookups per second one client may start after its burst: a node pulling image after image needs a few dozen.</summary>
    public double LookupsPerSecondPerClient { get; init; } = 32;

    /// <summary>
    /// Lookups running at once. A lookup takes milliseconds in a healthy cluster (and at most 10 s), so only a flood or a
    /// broken DHT reaches this; a request beyond it is refused (503) and containerd asks the next host.
    /// </summary>
    public int MaxLookupsRunning { get; init; } = 128;

    /// <summary>Lookups remembered (each for <see cref="LookupCacheTtl"/>): enough for every key of a busy node's pulls in 5 s.</summary>
    public int MaxLookupEntries { get; init; } = 4096;

    public TimeProvider Time { get; init; } = TimeProvider.System;
}
