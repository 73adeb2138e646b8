namespace Spegel.Libp2p.Kademlia;

/// <summary>Kademlia settings; the defaults are Spegel's (P2P-WIRE.md A.3, A.5).</summary>
public sealed record DhtOptions
{
    public const string SpegelProtocol = "/spegel/kad/1.0.0";

    public string ProtocolId { get; init; } = SpegelProtocol;

    /// <summary>Bucket size and replication factor.</summary>
    public int K { get; init; } = 20;

    /// <summary>
    /// Providers in one GET_PROVIDERS answer, the ones known longest first. A lookup needs a few (Spegel tries providers
    /// one after the other); more only grows every answer and the asker's memory.
    /// </summary>
    public int MaxProvidersPerAnswer { get; init; } = 20;

    /// <summary>
    /// Distinct providers one lookup yields at most (when the caller asks for all, or for more). Spegel uses the first
    /// few that answer; a lookup that has met this many has met every node that matters.
    /// </summary>
    public int MaxProvidersPerLookup { get; init; } = 64;

    /// <summary>
    /// Peers one lookup asks at most. In a 5,000-node cluster a lookup converges in about log2(5000 / 20) = 8 rounds of
    /// α = 10: about 100 requests; 200 leaves room, and stops a chain of sybils that keep naming closer peers.
    /// </summary>
    public int MaxQueriesPerLookup { get; init; } = 200;

    /// <summary>How long one lookup may run; it then ends with what it found (the product's own deadlines are shorter).</summary>
    public TimeSpan LookupTimeout { get; init; } = TimeSpan.FromSeconds(30);

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

    /// <summary>
    /// A reprovide skips a key whose closest peers already list this many other providers ahead of us: before the
    /// ADD_PROVIDERs, one GET_PROVIDERS goes to one of the key's k closest (a random one, so no holder answers every
    /// asker), and when the first <c>EnoughProviders</c> providers it lists are all other nodes, the key is not sent this
    /// cycle. A lookup still finds that many providers for it, stock Spegel's included (standard messages only); the
    /// providers listed first keep reproviding (they are not skipped), and when one goes, the next reprovide of another
    /// holder fills its place. Keys held by fewer nodes are reprovided as before (and, once a probe found fewer than half
    /// this many others, probed only every fourth cycle: <see cref="ProbeMemory"/>). A first provide is never skipped.
    /// Zero: every key is sent to its k closest every cycle (before issue 13).
    /// </summary>
    public int EnoughProviders { get; init; } = 20;

    /// <summary>
    /// Find every peer of a keyspace region before providing its keys, so each key reaches its exact k closest peers
    /// (<see cref="RegionExplorer"/>). Off: one lookup per region, as before issue 13 (the bench's baseline).
    /// </summary>
    internal bool ExploreRegions { get; init; } = true;

    /// <summary>
    /// When the last connection of a peer whose provider records we hold closes, wait this long (a restart or a new
    /// connection in between), then reach it once; if it cannot be reached, its records go at once instead of living out
    /// <see cref="ProvideValidity"/>: a node removed by the autoscaler stops being returned within about a minute (its
    /// connections close within yamux's keep-alive, 45 s). Zero: records of departed peers live until they expire.
    /// </summary>
    public TimeSpan DepartedProviderCheck { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Limit for one request to one peer.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the routing table is refreshed with a lookup of ourselves.</summary>
    public TimeSpan RefreshInterval { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How long an idle inbound DHT stream stays open.</summary>
    public TimeSpan ServerIdleTimeout { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long one request may take to arrive once its first byte has: the sender's own request timeout is 10 s (ours,
    /// and go's dial-and-ask budget is of that order), so a request still trickling in after that has no one waiting.
    /// </summary>
    public TimeSpan MessageTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Largest answer we read: go-libp2p-kad-dht's limit. go answers GET_PROVIDERS with every provider it holds, and in
    /// a cluster of thousands of nodes a key every node has (the pause image) is answered with thousands of entries of
    /// 100-250 bytes; read as it arrives, within the connection's budget.
    /// </summary>
    public const int MaxMessageBytes = 4 * 1024 * 1024;

    /// <summary>
    /// Largest request we serve. Requests carry a key and at most the sender's own record (ADD_PROVIDER: go sends one
    /// message per key, with its listen addresses): under 1 KiB in practice, so 64 KiB is headroom, and 512 streams of a
    /// connection cannot announce more than 32 MiB between them.
    /// </summary>
    public const int MaxRequestBytes = 64 * 1024;

    public TimeProvider Time { get; init; } = TimeProvider.System;
}
