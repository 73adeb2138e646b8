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

    public Dht(Libp2pHost host, DhtOptions? options = null, ILogger<Dht>? logger = null)
    {
        Host = host;
        Options = options ?? new DhtOptions();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        RoutingTable = new RoutingTable(host.Id, Options.K);
        Providers = new ProviderStore(Options.Time, Options.ProvideValidity);
        host.Peers.Pin(RoutingTable.Contains); // the addresses of routing-table peers are what the DHT dials
        host.KeepConnected(RoutingTable.Contains); // when the host is full, strangers go first
        Client = new KadClient(this);
        _server = new KadServer(this, _logger);
    }

    public Libp2pHost Host { get; }

    public DhtOptions Options { get; }

    public RoutingTable RoutingTable { get; }

    public ProviderStore Providers { get; }

    internal KadClient Client { get; }

    /// <summary>At least one peer in the routing table.</summary>
    public bool HasPeers => RoutingTable.Count > 0;

    /// <summary>Registers the protocol, admits identified DHT servers, and starts the maintenance loops.</summary>
    public void Start()
    {
        Host.Handle(Options.ProtocolId, _server.HandleAsync);
        Host.PeerIdentified += OnPeerIdentified;
        _loops.Add(Task.Run(() => ReprovideLoopAsync(_stopping.Token)));
        _loops.Add(Task.Run(() => RefreshLoopAsync(_stopping.Token)));
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
            catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidDataException or System.Net.Sockets.SocketException or TimeoutException or NotSupportedException or System.Security.Cryptography.CryptographicException)
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

        await PublishAsync(keys, cancellationToken).ConfigureAwait(false);
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
                if (!seen.Add(provider.Id))
                {
                    return count > 0 && seen.Count - 1 >= count;
                }

                channel.Writer.TryWrite(provider);
                return count > 0 && seen.Count - 1 >= count;
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

                                if (provider.Addresses.Count == 0)
                                {
                                    provider = provider with { Addresses = Host.Peers.GetAddresses(provider.Id) };
                                }

                                enough |= Offer(provider);
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

    /// <summary>What we answer GET_PROVIDERS with: unexpired records, and ourselves for our own keys.</summary>
    internal IEnumerable<PeerInfo> LocalProviders(Multihash key)
    {
        if (Providers.IsLocal(key))
        {
            yield return new PeerInfo(Host.Id, Host.Addresses);
        }

        foreach (var provider in Providers.Get(key))
        {
            var addresses = Host.Peers.GetAddresses(provider);
            if (addresses.Count > 0)
            {
                yield return new PeerInfo(provider, addresses);
            }
        }
    }

    /// <summary>
    /// Sends ADD_PROVIDER for <paramref name="keys"/> to the k closest peers of each. Keys are grouped into keyspace
    /// regions sized so that each region holds about k peers; one lookup per region finds them (go's sweeping
    /// provider does the same), then every peer gets its keys on one stream.
    /// </summary>
    internal async Task PublishAsync(IReadOnlyCollection<Multihash> keys, CancellationToken cancellationToken)
    {
        if (keys.Count == 0 || !HasPeers)
        {
            return;
        }

        int peers = Math.Max(RoutingTable.Count, 1);
        int bits = Math.Clamp((int)Math.Floor(Math.Log2(Math.Max(1.0, (double)peers / Options.K))), 0, 16);
        var regions = keys
            .Select(k => (Key: k, Position: KeySpace.Position(k.Bytes)))
            .GroupBy(k => bits == 0 ? 0 : ((k.Position[0] << 8) | k.Position[1]) >> (16 - bits));
        var perPeer = new Dictionary<PeerId, List<Multihash>>();
        using var limit = new SemaphoreSlim(4);
        await Task.WhenAll(regions.Select(async region =>
        {
            await limit.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var first = region.First();
                var lookup = new Lookup(this, first.Key.ToArray(), Message.Types.MessageType.FindNode);
                await lookup.RunAsync((_, _) => false, cancellationToken).ConfigureAwait(false);
                var candidates = lookup.Responded.Select(p => (Peer: p, Position: KeySpace.Position(p.Bytes))).ToList();
                foreach (var (key, position) in region)
                {
                    candidates.Sort((a, b) => KeySpace.CompareDistance(position, a.Position, b.Position));
                    lock (perPeer)
                    {
                        foreach (var (peer, _) in candidates.Take(Options.K))
                        {
                            if (!perPeer.TryGetValue(peer, out var list))
                            {
                                perPeer[peer] = list = [];
                            }

                            list.Add(key);
                        }
                    }
                }
            }
            finally
            {
                limit.Release();
            }
        })).ConfigureAwait(false);

        await SendProvidersAsync(perPeer, cancellationToken).ConfigureAwait(false);
        LogProvided(_logger, keys.Count, perPeer.Count);
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
            catch (Exception ex) when (ex is IOException or OperationCanceledException or NotSupportedException or InvalidDataException)
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
        if (keys.Count > 0)
        {
            await PublishAsync(keys, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ReprovideLoopAsync(CancellationToken cancellationToken)
    {
        var tick = Options.ReprovideInterval / Options.ReprovideSlices;
        using var timer = new PeriodicTimer(tick, Options.Time);
        int slice = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await ReprovideSliceAsync(slice, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or InvalidDataException)
                {
                    LogReprovideFailed(_logger, ex.Message);
                }

                slice = (slice + 1) % Options.ReprovideSlices;
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task RefreshLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Options.RefreshInterval, Options.Time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                if (HasPeers)
                {
                    await RefreshAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException)
        {
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
        await _stopping.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_loops).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 2201, Level = LogLevel.Debug, Message = "Bootstrap peer {Address} failed: {Reason}")]
    private static partial void LogBootstrapFailed(ILogger logger, string address, string reason);

    [LoggerMessage(EventId = 2202, Level = LogLevel.Debug, Message = "ADD_PROVIDER of {Count} keys to {Peer} failed: {Reason}")]
    private static partial void LogProvideFailed(ILogger logger, string peer, int count, string reason);

    [LoggerMessage(EventId = 2203, Level = LogLevel.Debug, Message = "Provided {Keys} keys to {Peers} peers")]
    private static partial void LogProvided(ILogger logger, int keys, int peers);

    [LoggerMessage(EventId = 2204, Level = LogLevel.Warning, Message = "Reprovide failed: {Reason}")]
    private static partial void LogReprovideFailed(ILogger logger, string reason);
}
