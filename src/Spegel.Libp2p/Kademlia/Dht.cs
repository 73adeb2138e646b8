using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protos;
using Spegel.Libp2p.Transport;

namespace Spegel.Libp2p.Kademlia;

/// <summary>
/// A Kademlia DHT node in server mode on a <see cref="Libp2pHost"/>: routing table, provider records, iterative
/// lookups that stream results, providing to the k closest peers with reprovides swept across the keyspace, and
/// local records for our own content (old Spegel versions find us only through those).
/// </summary>
public sealed partial class Dht : IAsyncDisposable
{
    /// <summary>How long a bootstrap waits for a new connection's identify.</summary>
    private static readonly TimeSpan IdentifyWait = TimeSpan.FromSeconds(10);
    private readonly ILogger _logger;
    private readonly KadServer _server;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _loops = [];
    private readonly ProbeMemory _probes;

    public Dht(Libp2pHost host, DhtOptions? options = null, ILogger<Dht>? logger = null)
        : this(host, options, logger, transport: null)
    {
    }

    /// <summary>A node whose requests go through <paramref name="transport"/> (null: libp2p streams on the host).</summary>
    internal Dht(Libp2pHost host, DhtOptions? options, ILogger<Dht>? logger, IKadTransport? transport)
    {
        Host = host;
        Options = options ?? new DhtOptions();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        RoutingTable = new RoutingTable(host.Id, Options.K);
        Providers = new ProviderStore(Options.Time, Options.ProvideValidity);
        host.Peers.Pin(RoutingTable.Contains); // the addresses of routing-table peers are what the DHT dials
        host.KeepConnected(RoutingTable.Contains); // when the host is full, strangers go first
        Client = transport ?? new KadClient(this);
        FirstSlice = Random.Shared.Next(Options.ReprovideSlices);
        _probes = new ProbeMemory(Options.EnoughProviders);
        _server = new KadServer(this, _logger);
    }

    public Libp2pHost Host { get; }

    public DhtOptions Options { get; }

    public RoutingTable RoutingTable { get; }

    public ProviderStore Providers { get; }

    internal IKadTransport Client { get; }

    /// <summary>What this node answers <paramref name="request"/> from <paramref name="requester"/> with (null: no answer, as for ADD_PROVIDER).</summary>
    internal Message? Answer(PeerId requester, Message request) => _server.Handle(requester, request);

    /// <summary>
    /// The slice the reprovide sweep starts with: a random one. Nodes that start together (a cluster's rollout) would
    /// otherwise sweep the same slice in the same minute, and a node would receive a whole cycle's ADD_PROVIDERs for its
    /// part of the keyspace within a minute or two instead of spread over the fifteen (issue 13's simulation).
    /// </summary>
    internal int FirstSlice { get; }

    /// <summary>At least one peer in the routing table.</summary>
    public bool HasPeers => RoutingTable.Count > 0;

    /// <summary>Registers the protocol, admits identified DHT servers, and starts the maintenance loops.</summary>
    public void Start()
    {
        Host.Handle(Options.ProtocolId, _server.HandleAsync);
        Host.PeerIdentified += OnPeerIdentified;
        Host.PeerDisconnected += OnPeerDisconnected;
        // The timers start now, not when the loops' first lines run: ticks count from Start.
        var reprovide = new PeriodicTimer(Options.ReprovideInterval / Options.ReprovideSlices, Options.Time);
        var refresh = new PeriodicTimer(Options.RefreshInterval, Options.Time);
        _loops.Add(Task.Run(() => ReprovideLoopAsync(reprovide, _stopping.Token)));
        _loops.Add(Task.Run(() => RefreshLoopAsync(refresh, _stopping.Token)));
    }

    /// <summary>Connects to <paramref name="peers"/> and fills the routing table with a lookup of ourselves.</summary>
    /// <returns>How many bootstrap peers answered.</returns>
    public async Task<int> BootstrapAsync(IEnumerable<Multiaddr> peers, CancellationToken cancellationToken)
    {
        int connected = 0;
        foreach (var address in peers)
        {
            try
            {
                var connection = await Host.ConnectAsync(address, cancellationToken).ConfigureAwait(false);
                await WaitIdentifiedAsync(connection.RemotePeer, cancellationToken).ConfigureAwait(false);
                connected++;
            }
            catch (Exception ex) when (PeerFailure.Is(ex))
            {
                cancellationToken.ThrowIfCancellationRequested();
                LogBootstrapFailed(_logger, address.ToString(), ex.Message);
            }
        }

        if (HasPeers)
        {
            await RefreshAsync(cancellationToken).ConfigureAwait(false);
        }

        return connected;
    }

    /// <summary>A lookup of our own ID: learns the peers around us and tells them about us.</summary>
    public Task RefreshAsync(CancellationToken cancellationToken) => GetClosestPeersAsync(Host.Id.ToArray(), cancellationToken);

    /// <summary>The k closest peers to <paramref name="key"/> that answered a FIND_NODE lookup.</summary>
    public async Task<IReadOnlyList<PeerId>> GetClosestPeersAsync(byte[] key, CancellationToken cancellationToken)
    {
        var lookup = new Lookup(this, key, Message.Types.MessageType.FindNode);
        await lookup.RunAsync((_, _) => false, cancellationToken).ConfigureAwait(false);
        return lookup.Responded.Take(Options.K).ToList();
    }

    /// <summary>
    /// Advertises <paramref name="keys"/>: local records at once (answered from now on), then ADD_PROVIDER to the k
    /// closest peers of each key. Keys stay provided (and are reprovided) until withdrawn.
    /// </summary>
    public async Task ProvideAsync(IReadOnlyCollection<Multihash> keys, CancellationToken cancellationToken)
    {
        foreach (var key in keys)
        {
            Providers.AddLocal(key);
        }

        await PublishAsync(keys, reprovide: false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Provides <paramref name="keys"/> to the k peers nearest each key <em>that we are connected to</em>, at once, without
    /// the lookup <see cref="ProvideAsync"/> starts with: for records that matter within milliseconds (a pull claim that
    /// rivals must see before they decide). In a cluster of up to k+1 nodes these are exactly the k closest; in a larger
    /// one the routing table's nearest are close to them, and <see cref="ProvideAsync"/> (which the caller runs next)
    /// reaches the exact ones. Returns when the messages are written.
    /// </summary>
    public async Task ProvideToKnownNearestAsync(IReadOnlyCollection<Multihash> keys, CancellationToken cancellationToken)
    {
        var perPeer = new Dictionary<PeerId, List<Multihash>>();
        foreach (var key in keys)
        {
            Providers.AddLocal(key);
            // Connected peers only: a dial (up to the dial timeout to a peer that left) is the wait this path avoids.
            foreach (var peer in RoutingTable.Nearest(KeySpace.Position(key.Bytes), Options.K).Where(p => Host.GetConnection(p) is not null))
            {
                if (!perPeer.TryGetValue(peer, out var list))
                {
                    perPeer[peer] = list = [];
                }

                list.Add(key);
            }
        }

        await SendProvidersAsync(perPeer, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Claims <paramref name="key"/> unless someone already did (a pull claim, <c>PullCoalescer</c>):
    /// <list type="number">
    /// <item>A GET_PROVIDERS lookup of the key, run to the end: providers found (in our store or the lookup's answers)
    /// claimed it before us. They are returned, and nothing is claimed.</item>
    /// <item>Otherwise the arbiter decides: the peer nearest the key that answered the lookup (every node's lookup
    /// converges on the same nearest peers, whatever its own routing table holds), or this node when it is nearer
    /// still (then our own store answers). ADD_PROVIDER and GET_PROVIDERS go to it on one stream, so it stores our
    /// record before it answers, and it lists providers in the order their records arrived. Rivals that claim at the
    /// same arbiter thus read one order: whoever is listed first was first, and every later node knows it, with no
    /// wait for records to spread.</item>
    /// </list>
    /// Only the arbiter is told here: the caller publishes the claim to the other nearest peers next.
    /// </summary>
    /// <returns>
    /// <see cref="ClaimOutcome.Claimed"/> false: the earlier claimants. True: the arbiter's order, this node included
    /// where the arbiter placed it. Null when no arbiter could be asked (no peer answered, or the exchange failed).
    /// </returns>
    public async Task<ClaimOutcome?> ClaimAsync(Multihash key, CancellationToken cancellationToken)
    {
        var earlier = new List<PeerInfo>();
        void Found(PeerInfo provider)
        {
            if (!provider.Id.Equals(Host.Id) && !earlier.Any(p => p.Id.Equals(provider.Id)) && earlier.Count < Options.MaxProvidersPerLookup)
            {
                earlier.Add(WithKnownAddresses(provider));
            }
        }

        foreach (var known in LocalProviders(key))
        {
            Found(known);
        }

        var lookup = new Lookup(this, key.ToArray(), Message.Types.MessageType.GetProviders);
        if (earlier.Count == 0)
        {
            await lookup.RunAsync(
                (_, response) =>
                {
                    foreach (var entry in response.ProviderPeers.Take(Options.MaxProvidersPerAnswer))
                    {
                        if (PeerInfo.FromProto(entry) is { } listed)
                        {
                            Found(listed);
                        }
                    }

                    return false;
                },
                cancellationToken).ConfigureAwait(false);
        }

        if (earlier.Count > 0)
        {
            return new ClaimOutcome(earlier, Claimed: false);
        }

        var position = KeySpace.Position(key.Bytes);
        var arbiter = lookup.Responded.FirstOrDefault();
        if (arbiter is null)
        {
            return null;
        }

        Providers.AddLocal(key);
        if (KeySpace.CompareDistance(position, KeySpace.Position(Host.Id.Bytes), KeySpace.Position(arbiter.Bytes)) < 0)
        {
            return new ClaimOutcome(LocalProviders(key).ToList(), Claimed: true);
        }

        var provider = new PeerInfo(Host.Id, Host.Addresses).ToProto(connected: false);
        var add = new Message { Type = Message.Types.MessageType.AddProvider, Key = ByteString.CopyFrom(key.Bytes), ProviderPeers = { provider } };
        var get = new Message { Type = Message.Types.MessageType.GetProviders, Key = ByteString.CopyFrom(key.Bytes) };
        try
        {
            var answer = await Client.RequestAsync(arbiter, [], add, get, cancellationToken).ConfigureAwait(false);
            var order = new List<PeerInfo>();
            foreach (var entry in answer.ProviderPeers.Take(Options.MaxProvidersPerAnswer))
            {
                if (PeerInfo.FromProto(entry) is not { } listed || order.Any(p => p.Id.Equals(listed.Id)))
                {
                    continue;
                }

                order.Add(listed.Id.Equals(Host.Id) ? new PeerInfo(Host.Id, Host.Addresses) : WithKnownAddresses(listed));
            }

            return new ClaimOutcome(order, Claimed: true);
        }
        catch (Exception ex) when (PeerFailure.Is(ex))
        {
            // Nothing was claimed: our record goes, or it would be reprovided for good (the caller announces its claim
            // itself if it still makes one).
            Providers.RemoveLocal(key);
            cancellationToken.ThrowIfCancellationRequested();
            LogProvideFailed(_logger, arbiter.ToString(), 1, ex.Message);
            return null;
        }
    }

    /// <summary>Stops providing: the local record goes at once; remote records expire (the DHT has no delete).</summary>
    public void Withdraw(IEnumerable<Multihash> keys)
    {
        foreach (var key in keys)
        {
            Providers.RemoveLocal(key);
        }
    }

    /// <summary>
    /// Providers of <paramref name="key"/> as they are found: our store first, then an iterative GET_PROVIDERS
    /// lookup, until <paramref name="count"/> distinct providers (0: all the lookup finds), never more than
    /// <see cref="DhtOptions.MaxProvidersPerLookup"/>. We are never yielded.
    /// </summary>
    public async IAsyncEnumerable<PeerInfo> FindProvidersAsync(Multihash key, int count, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // At most MaxProvidersPerLookup providers are ever offered, so the channel holds no more than that.
        count = count <= 0 ? Options.MaxProvidersPerLookup : Math.Min(count, Options.MaxProvidersPerLookup);
        var channel = Channel.CreateUnbounded<PeerInfo>(new UnboundedChannelOptions { SingleReader = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        var seen = new HashSet<PeerId> { Host.Id };
        bool Offer(PeerInfo provider)
        {
            lock (seen)
            {
                // Once there are enough, nothing more is offered (an answer's remaining entries included).
                if (seen.Count - 1 < count && seen.Add(provider.Id))
                {
                    channel.Writer.TryWrite(provider);
                }

                return seen.Count - 1 >= count;
            }
        }

        var producer = Task.Run(
            async () =>
            {
                try
                {
                    foreach (var local in LocalProviders(key))
                    {
                        if (Offer(local))
                        {
                            return;
                        }
                    }

                    var lookup = new Lookup(this, key.ToArray(), Message.Types.MessageType.GetProviders);
                    await lookup.RunAsync(
                        (_, response) =>
                        {
                            // The answer's addresses go to the caller with the provider, not into the peer store: what
                            // one DHT member says of others is not remembered beyond this lookup.
                            bool enough = false;
                            foreach (var entry in response.ProviderPeers.Take(Options.MaxProvidersPerAnswer))
                            {
                                if (PeerInfo.FromProto(entry) is not { } provider)
                                {
                                    continue;
                                }

                                if (Offer(WithKnownAddresses(provider)))
                                {
                                    enough = true;
                                    break;
                                }
                            }

                            return enough;
                        },
                        stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
                finally
                {
                    channel.Writer.TryComplete();
                }
            },
            CancellationToken.None);

        try
        {
            await foreach (var provider in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return provider;
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await producer.ConfigureAwait(false);
        }
    }

    /// <summary>A provider from an answer, with the addresses we know for it when the answer gave none.</summary>
    private PeerInfo WithKnownAddresses(PeerInfo provider) =>
        provider.Addresses.Count > 0 ? provider : provider with { Addresses = Host.Peers.GetAddresses(provider.Id) };

    /// <summary>What we answer GET_PROVIDERS with: unexpired records, and ourselves for our own keys.</summary>
    internal IEnumerable<PeerInfo> LocalProviders(Multihash key)
    {
        foreach (var provider in Providers.Get(key, Host.Id))
        {
            if (provider.Equals(Host.Id))
            {
                yield return new PeerInfo(Host.Id, Host.Addresses);
                continue;
            }

            var addresses = Host.Peers.GetAddresses(provider);
            if (addresses.Count > 0)
            {
                yield return new PeerInfo(provider, addresses);
            }
        }
    }

    /// <summary>
    /// Sends ADD_PROVIDER for <paramref name="keys"/> to the k closest peers of each. Keys are grouped into keyspace
    /// regions sized so that each holds about k peers; the peers of the part of a region that holds keys are all found
    /// (<see cref="RegionExplorer"/>: a few lookups per region, as go's sweeping provider does), so each key goes to its
    /// exact k closest; then every peer gets its keys on one stream. A reprovide first leaves out the keys that enough
    /// other providers keep findable (<see cref="DhtOptions.EnoughProviders"/>, <see cref="SkipWellProvidedAsync"/>).
    /// </summary>
    internal async Task PublishAsync(IReadOnlyCollection<Multihash> keys, bool reprovide, CancellationToken cancellationToken)
    {
        if (keys.Count == 0 || !HasPeers)
        {
            return;
        }

        // Regions of about k peers: the routing table holds only a part of a large network, so its size is estimated.
        int peers = Math.Max(Options.ExploreRegions ? RoutingTable.EstimateNetworkSize() : RoutingTable.Count, 1);
        int bits = Math.Clamp((int)Math.Floor(Math.Log2(Math.Max(1.0, (double)peers / Options.K))), 0, 16);
        var regions = keys
            .Select(k => (Key: k, Position: KeySpace.Position(k.Bytes)))
            .GroupBy(k => RegionExplorer.PrefixOf(k.Position, bits));
        var explorer = new RegionExplorer(this, bits + RegionExplorer.MaxDepth);
        var closestOf = new List<(Multihash Key, PeerId[] Closest)>();
        using var limit = new SemaphoreSlim(4);
        await Task.WhenAll(regions.Select(async region =>
        {
            await limit.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (Options.ExploreRegions)
                {
                    await explorer.AssignAsync(region.Key, bits, [.. region], Assign, cancellationToken).ConfigureAwait(false);
                    return;
                }

                // Before issue 13: the peers that answered one lookup of the region's first key, which in a region of
                // more than k peers misses the closest peers of the region's other keys (records nobody finds).
                var lookup = new Lookup(this, region.First().Key.ToArray(), Message.Types.MessageType.FindNode);
                await lookup.RunAsync((_, _) => false, cancellationToken).ConfigureAwait(false);
                var candidates = lookup.Responded.Select(p => (Peer: p, Position: KeySpace.Position(p.Bytes))).ToList();
                foreach (var (key, position) in region)
                {
                    candidates.Sort((a, b) => KeySpace.CompareDistance(position, a.Position, b.Position));
                    Assign(key, candidates.Take(Options.K).Select(c => c.Peer));
                }
            }
            finally
            {
                limit.Release();
            }
        })).ConfigureAwait(false);

        void Assign(Multihash key, IEnumerable<PeerId> closest)
        {
            var peers = closest.ToArray();
            lock (closestOf)
            {
                closestOf.Add((key, peers));
            }
        }

        int skipped = reprovide && Options.EnoughProviders > 0 ? await SkipWellProvidedAsync(closestOf, cancellationToken).ConfigureAwait(false) : 0;
        var perPeer = new Dictionary<PeerId, List<Multihash>>();
        foreach (var (key, closest) in closestOf)
        {
            foreach (var peer in closest)
            {
                if (!perPeer.TryGetValue(peer, out var list))
                {
                    perPeer[peer] = list = [];
                }

                list.Add(key);
            }
        }

        await SendProvidersAsync(perPeer, cancellationToken).ConfigureAwait(false);
        LogProvided(_logger, keys.Count - skipped, perPeer.Count, skipped);
    }

    /// <summary>
    /// Removes from <paramref name="closestOf"/> the keys whose closest peers already list enough other providers: one
    /// GET_PROVIDERS per key to one of its k closest (the same random rank for every key of this reprovide, so the keys of
    /// a region mostly share a peer and go on one stream; other nodes pick other ranks). A key stays when the answer's
    /// first <see cref="DhtOptions.EnoughProviders"/> providers include us or are fewer, or when the probe fails. A key
    /// whose last probe found few other providers is not probed every time (<see cref="ProbeMemory"/>).
    /// </summary>
    /// <returns>How many keys were removed.</returns>
    private async Task<int> SkipWellProvidedAsync(List<(Multihash Key, PeerId[] Closest)> closestOf, CancellationToken cancellationToken)
    {
        int rank = Random.Shared.Next(Options.K);
        var probes = closestOf
            .Where(entry => entry.Closest.Length >= Options.EnoughProviders && _probes.ShouldProbe(entry.Key))
            .GroupBy(entry => entry.Closest[Math.Min(rank, entry.Closest.Length - 1)]);
        var wellProvided = new HashSet<Multihash>();
        await Task.WhenAll(probes.Select(async group =>
        {
            var requests = group.Select(entry => new Message { Type = Message.Types.MessageType.GetProviders, Key = ByteString.CopyFrom(entry.Key.Bytes) }).ToList();
            IReadOnlyList<Message> answers;
            try
            {
                answers = await Client.RequestEachAsync(group.Key, requests, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (PeerFailure.Is(ex))
            {
                cancellationToken.ThrowIfCancellationRequested();
                LogProbeFailed(_logger, group.Key.ToString(), requests.Count, ex.Message);
                return; // its keys are provided as usual
            }

            var entries = group.ToList();
            for (int i = 0; i < entries.Count && i < answers.Count; i++)
            {
                int others = OthersAhead(answers[i]);
                _probes.Record(entries[i].Key, others);
                if (others >= Options.EnoughProviders)
                {
                    lock (wellProvided)
                    {
                        wellProvided.Add(entries[i].Key);
                    }
                }
            }
        })).ConfigureAwait(false);

        return closestOf.RemoveAll(entry => wellProvided.Contains(entry.Key));
    }

    /// <summary>
    /// How many distinct other providers a GET_PROVIDERS answer lists before us (all of them when we are not listed), up to
    /// <see cref="DhtOptions.EnoughProviders"/>. Only providers we have met count (their addresses are in our peer store,
    /// first-hand): a DHT member answering our probe with made-up providers must not make us stop advertising a key.
    /// </summary>
    private int OthersAhead(Message answer)
    {
        var seen = new HashSet<PeerId>();
        foreach (var entry in answer.ProviderPeers)
        {
            if (!PeerId.TryFromBytes(entry.Id.Span, out var provider) || provider is null)
            {
                continue;
            }

            if (provider.Equals(Host.Id))
            {
                break; // we are listed: our record keeps its place only if we keep sending it
            }

            if (Host.Peers.GetAddresses(provider).Count > 0 && seen.Add(provider) && seen.Count >= Options.EnoughProviders)
            {
                break;
            }
        }

        return seen.Count;
    }

    /// <summary>ADD_PROVIDER for each peer's keys, every peer on one stream, all peers at once; a peer that fails is logged.</summary>
    private async Task SendProvidersAsync(Dictionary<PeerId, List<Multihash>> perPeer, CancellationToken cancellationToken)
    {
        var provider = new PeerInfo(Host.Id, Host.Addresses).ToProto(connected: false);
        await Task.WhenAll(perPeer.Select(async pair =>
        {
            var messages = pair.Value.Select(key => new Message
            {
                Type = Message.Types.MessageType.AddProvider,
                Key = ByteString.CopyFrom(key.Bytes),
                ProviderPeers = { provider },
            }).ToList();
            try
            {
                await Client.SendAsync(pair.Key, messages, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (PeerFailure.Is(ex))
            {
                cancellationToken.ThrowIfCancellationRequested();
                LogProvideFailed(_logger, pair.Key.ToString(), pair.Value.Count, ex.Message);
            }
        })).ConfigureAwait(false);
    }

    /// <summary>Which reprovide slice a key belongs to (by its keyspace position, so slices are regions).</summary>
    internal int SliceOf(Multihash key)
    {
        var position = KeySpace.Position(key.Bytes);
        return ((position[0] << 8) | position[1]) * Options.ReprovideSlices / 65536;
    }

    /// <summary>One reprovide tick: the keys of one keyspace slice, and expired provider records and peers dropped.</summary>
    internal async Task ReprovideSliceAsync(int slice, CancellationToken cancellationToken)
    {
        Providers.RemoveExpired();
        Host.Peers.RemoveExpired(); // else a peer whose addresses expired leaves only when the store is full
        var keys = Providers.LocalKeys.Where(k => SliceOf(k) == slice).ToList();
        _probes.Forget(k => SliceOf(k) == slice && !Providers.IsLocal(k));
        if (keys.Count > 0)
        {
            await PublishAsync(keys, reprovide: true, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Reprovide ticks ended (each one slice; a tick that failed counts too): the loop is alive.</summary>
    internal int ReprovideTicks => Volatile.Read(ref _reprovideTicks);

    private int _reprovideTicks;

    /// <summary>One reprovide slice per tick, starting at <see cref="FirstSlice"/>.</summary>
    private Task ReprovideLoopAsync(PeriodicTimer timer, CancellationToken cancellationToken)
    {
        int slice = FirstSlice;
        return EveryTickAsync(timer, "reprovide", async () =>
        {
            try
            {
                await ReprovideSliceAsync(slice, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                slice = (slice + 1) % Options.ReprovideSlices;
                Interlocked.Increment(ref _reprovideTicks);
            }
        }, cancellationToken);
    }

    /// <summary>A routing-table refresh every <see cref="DhtOptions.RefreshInterval"/>, when there is a peer to ask.</summary>
    private Task RefreshLoopAsync(PeriodicTimer timer, CancellationToken cancellationToken) =>
        EveryTickAsync(timer, "refresh", () => HasPeers ? RefreshAsync(cancellationToken) : Task.CompletedTask, cancellationToken);

    /// <summary>
    /// Runs <paramref name="tick"/> on every tick of <paramref name="timer"/> until stopped. A tick that fails, however, is
    /// logged and the next one runs: a loop that ended on an exception would stop advertising this node's content (or
    /// refreshing its table) for good, silently, while everything else works.
    /// </summary>
    private async Task EveryTickAsync(PeriodicTimer timer, string loop, Func<Task> tick, CancellationToken cancellationToken)
    {
        using var _ = timer;
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await tick().ConfigureAwait(false);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    LogLoopTickFailed(_logger, loop, ex.GetType().Name, ex.Message);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>A peer's last connection closed: if it provides keys here, check after a while that it is still there.</summary>
    private void OnPeerDisconnected(PeerId peer)
    {
        if (Options.DepartedProviderCheck <= TimeSpan.Zero || Providers.RecordsOf(peer) == 0)
        {
            return;
        }

        var token = _stopping.Token;
        _ = Task.Run(
            async () =>
            {
                try
                {
                    await Task.Delay(Options.DepartedProviderCheck, Options.Time, token).ConfigureAwait(false);
                    await CheckProviderAsync(peer, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
            },
            CancellationToken.None);
    }

    /// <summary>
    /// Reaches <paramref name="provider"/> once (a FIND_NODE, which every DHT server answers: the wire is unchanged) unless
    /// it is connected again; when it cannot be reached, its provider records are dropped.
    /// </summary>
    /// <returns>How many records were dropped.</returns>
    internal async Task<int> CheckProviderAsync(PeerId provider, CancellationToken cancellationToken)
    {
        if (Host.GetConnection(provider) is not null)
        {
            return 0;
        }

        try
        {
            var probe = new Message { Type = Message.Types.MessageType.FindNode, Key = ByteString.CopyFrom(Host.Id.Bytes) };
            await Client.RequestAsync(provider, [], probe, cancellationToken).ConfigureAwait(false);
            return 0;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && (PeerFailure.Is(ex) || ex is InvalidOperationException))
        {
            int removed = Providers.RemoveProvider(provider);
            LogDepartedProvider(_logger, provider.ToString(), removed, ex.Message);
            return removed;
        }
    }

    private void OnPeerIdentified(PeerId peer)
    {
        if (Host.Peers.Supports(peer, Options.ProtocolId))
        {
            RoutingTable.TryAdd(peer);
        }
    }

    /// <summary>
    /// Waits until identify has told us <paramref name="peer"/>'s protocols (the host's event, not polling), up to
    /// 10 s on the DHT's clock.
    /// </summary>
    private async Task WaitIdentifiedAsync(PeerId peer, CancellationToken cancellationToken)
    {
        var identified = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnIdentified(PeerId who)
        {
            if (who.Equals(peer))
            {
                identified.TrySetResult();
            }
        }

        // Subscribe before looking, so an identify that completes in between is not missed.
        Host.PeerIdentified += OnIdentified;
        try
        {
            if (RoutingTable.Contains(peer) || Host.Peers.IsIdentified(peer))
            {
                return;
            }

            await identified.Task.WaitAsync(IdentifyWait, Options.Time, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Host.PeerIdentified -= OnIdentified;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Host.PeerIdentified -= OnPeerIdentified;
        Host.PeerDisconnected -= OnPeerDisconnected;
        await _stopping.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_loops).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 2201, Level = LogLevel.Debug, Message = "Bootstrap peer {Address} failed: {Reason}")]
    private static partial void LogBootstrapFailed(ILogger logger, string address, string reason);

    [LoggerMessage(EventId = 2202, Level = LogLevel.Debug, Message = "ADD_PROVIDER of {Count} keys to {Peer} failed: {Reason}")]
    private static partial void LogProvideFailed(ILogger logger, string peer, int count, string reason);

    [LoggerMessage(EventId = 2203, Level = LogLevel.Debug, Message = "Provided {Keys} keys to {Peers} peers; {Skipped} left out (enough other providers listed)")]
    private static partial void LogProvided(ILogger logger, int keys, int peers, int skipped);

    [LoggerMessage(EventId = 2206, Level = LogLevel.Debug, Message = "GET_PROVIDERS probe of {Count} keys to {Peer} failed: {Reason}")]
    private static partial void LogProbeFailed(ILogger logger, string peer, int count, string reason);

    [LoggerMessage(EventId = 2204, Level = LogLevel.Warning, Message = "A {Loop} tick failed ({Exception}: {Reason}); the next one runs on schedule")]
    private static partial void LogLoopTickFailed(ILogger logger, string loop, string exception, string reason);

    [LoggerMessage(EventId = 2205, Level = LogLevel.Debug, Message = "Provider {Peer} is gone ({Reason}): dropped its {Records} records")]
    private static partial void LogDepartedProvider(ILogger logger, string peer, int records, string reason);
}

/// <summary>What <see cref="Dht.ClaimAsync"/> found: earlier claimants (not claimed), or the arbiter's order (claimed).</summary>
public sealed record ClaimOutcome(IReadOnlyList<PeerInfo> Providers, bool Claimed);
