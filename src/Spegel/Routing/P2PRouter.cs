using System.Net;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Transport;
using Spegel.Routing.Bootstrap;

using Spegel.Timing;

namespace Spegel.Routing;

/// <summary>
/// The router over our libp2p DHT (<c>/spegel/kad/1.0.0</c>). Keys are Spegel's strings; on the wire they are the
/// multihash of their CIDv1. A provider's registry is reached on its IP and our registry port, as in Spegel.
/// Bootstrap retries with backoff (50 ms → 10 s) until a peer is in the routing table, and again every 30 minutes,
/// as Spegel's router loop does (<c>pkg/routing/libp2p/libp2p.go</c>). A bootstrap source that lists nobody but this
/// node is not a success: the node keeps asking (at most every 10 s), so a node that started first finds the others
/// as they come up even when it is not among the addresses they dial. Unlike Spegel, such a node is Ready meanwhile
/// (a single-node cluster serves its own content; SPEC §4).
/// </summary>
internal sealed partial class P2PRouter : IRouter, IAsyncDisposable
{
    private static readonly TimeSpan MinBackoff = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Rebootstrap = TimeSpan.FromMinutes(30);
    private readonly IBootstrapper _bootstrapper;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _bootstrapLoop;
    private volatile bool _alone;
    private readonly WorkTracker _publishing;

    public P2PRouter(Libp2pHost host, Dht dht, IBootstrapper bootstrapper, ILogger<P2PRouter> logger, TimeProvider? time = null)
    {
        Host = host;
        Dht = dht;
        _bootstrapper = bootstrapper;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _publishing = new WorkTracker(ex => LogPublishFailed(_logger, ex.Message));
    }

    public Libp2pHost Host { get; }

    public Dht Dht { get; }

    public string Id => Host.Id.ToString();

    /// <summary>A peer in the routing table, or nobody but us to bootstrap from (a single-node cluster).</summary>
    public bool Ready => Dht.HasPeers || _alone;

    /// <summary>This node and the peers in its routing table or connected to it, for the debug page.</summary>
    public RouterSnapshot Snapshot()
    {
        var connected = Host.ConnectedPeers.ToHashSet();
        var peers = Dht.RoutingTable.All().Union(connected)
            .OrderBy(p => p.ToString(), StringComparer.Ordinal)
            .Select(p => new KnownPeer(p.ToString(), connected.Contains(p), Host.Peers.GetAddresses(p).Select(a => a.ToString()).ToList()))
            .ToList();
        return new RouterSnapshot(Id, Host.Addresses.Select(a => a.ToString()).ToList(), peers);
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await Host.StartAsync(cancellationToken).ConfigureAwait(false);
        Dht.Start();
        _bootstrapLoop = Task.Run(() => BootstrapLoopAsync(_stopping.Token), CancellationToken.None);
    }

    public Task AdvertiseAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken) =>
        Dht.ProvideAsync(keys.Select(k => Cid.ForKey(k).Hash).ToList(), cancellationToken);

    /// <summary>
    /// The nearest peers we know get the records at once (no lookup first: the lookup is what made rival claims miss
    /// each other, its length varying with the load); the ordinary publish, which finds the exact k closest in a large
    /// cluster, then runs in the background until it ends or <paramref name="cancellationToken"/> stops it.
    /// </summary>
    public async Task AdvertiseNowAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
    {
        var hashes = keys.Select(k => Cid.ForKey(k).Hash).ToList();
        await Dht.ProvideToKnownNearestAsync(hashes, cancellationToken).ConfigureAwait(false);
        _publishing.Track(Dht.ProvideAsync(hashes, cancellationToken));
    }

    /// <summary>
    /// Earlier claimants, or the arbiter's order (<see cref="Dht.ClaimAsync"/>) and then the claim announced to the other nearest peers and
    /// published thoroughly in the background until <paramref name="cancellationToken"/> stops it (later claimants
    /// whose lookup runs first find it there).
    /// </summary>
    public async Task<IReadOnlyList<RoutedPeer>?> ClaimAsync(string key, CancellationToken cancellationToken)
    {
        var hash = Cid.ForKey(key).Hash;
        var outcome = await Dht.ClaimAsync(hash, cancellationToken).ConfigureAwait(false);
        if (outcome is { Claimed: true })
        {
            // The record lives as long as the claim is published: once stopped, it goes, whether the publish had
            // ended (this callback) or was still on its way (PublishClaimAsync's own check after it adds the record).
            cancellationToken.UnsafeRegister(
                static state =>
                {
                    var (dht, claimed) = ((Dht, Multihash))state!;
                    dht.Withdraw([claimed]);
                },
                (Dht, hash));
            _publishing.Track(PublishClaimAsync(hash, cancellationToken));
        }

        // As in LookupAsync, a provider without a usable registry address is skipped (nobody could fetch from it, so it
        // cannot lead for us); we keep our own place whatever our addresses.
        return outcome?.Providers
            .Select(p => p.Id.Equals(Host.Id) ? new RoutedPeer(Id, []) : ToRegistryAddresses(p) is { Count: > 0 } addresses ? new RoutedPeer(p.Id.ToString(), addresses) : null)
            .OfType<RoutedPeer>()
            .ToList();
    }

    /// <summary>
    /// Publishes a claim until <paramref name="cancellationToken"/> stops it. A record this adds after the stop (the
    /// publish was still on its way) is removed again here: it would otherwise be reprovided for as long as the node runs.
    /// </summary>
    private async Task PublishClaimAsync(Multihash hash, CancellationToken cancellationToken)
    {
        try
        {
            await Dht.ProvideToKnownNearestAsync([hash], cancellationToken).ConfigureAwait(false);
            await Dht.ProvideAsync([hash], cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (cancellationToken.IsCancellationRequested)
            {
                Dht.Withdraw([hash]);
            }
        }
    }

    /// <summary>Claims still being published (tests wait for them to end).</summary>
    internal int PublishingCount => _publishing.Count;

    public Task WithdrawAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
    {
        Dht.Withdraw(keys.Select(k => Cid.ForKey(k).Hash));
        return Task.CompletedTask;
    }

    public async IAsyncEnumerable<RoutedPeer> LookupAsync(string key, int count, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var provider in Dht.FindProvidersAsync(Cid.ForKey(key).Hash, count, cancellationToken).ConfigureAwait(false))
        {
            if (ToRegistryAddresses(provider) is { Count: > 0 } addresses)
            {
                yield return new RoutedPeer(provider.Id.ToString(), addresses);
            }
        }
    }

    /// <summary>
    /// The IPs of a provider's addresses (first component). Like Spegel, a provider with any address that is not
    /// IP-based is skipped.
    /// </summary>
    public static IReadOnlyList<IPAddress>? ToRegistryAddresses(PeerInfo provider)
    {
        var result = new List<IPAddress>();
        foreach (var address in provider.Addresses)
        {
            if (address.Ip is not { } ip)
            {
                return null;
            }

            if (!result.Contains(ip))
            {
                result.Add(ip);
            }
        }

        return result;
    }

    /// <summary>One bootstrap round; true when a peer is in the routing table afterwards.</summary>
    internal async Task<bool> BootstrapOnceAsync(CancellationToken cancellationToken)
    {
        var found = await _bootstrapper.GetAsync(cancellationToken).ConfigureAwait(false);
        var ownPort = Host.BoundEndPoints.FirstOrDefault()?.Port ?? 0;
        var own = Host.Addresses.Select(a => a.Ip).OfType<IPAddress>().ToHashSet();
        var targets = new List<Multiaddr>();
        foreach (var address in found)
        {
            if (address.PeerId is { } id && id.Equals(Host.Id))
            {
                continue;
            }

            // A bare IP (DNS bootstrap) is dialed on our own router port.
            var dialable = address.TcpEndPoint is null && address.Ip is { } ip
                ? Multiaddr.Create([address.Components[0], .. Multiaddr.FromEndPoint(new IPEndPoint(ip, ownPort)).Components.Skip(1), .. address.Components.Skip(1)])
                : address;
            if (dialable.TcpEndPoint is { } endPoint && own.Contains(endPoint.Address) && endPoint.Port == ownPort)
            {
                continue; // ourselves
            }

            targets.Add(dialable);
        }

        if (targets.Count == 0)
        {
            if (!_alone)
            {
                _alone = true;
                LogAlone(_logger);
            }

            return Dht.HasPeers;
        }

        _alone = false;
        int connected = await Dht.BootstrapAsync(targets, cancellationToken).ConfigureAwait(false);
        LogBootstrapped(_logger, connected, targets.Count, Dht.RoutingTable.Count);
        return Dht.HasPeers;
    }

    private async Task BootstrapLoopAsync(CancellationToken cancellationToken)
    {
        var backoff = new Backoff(MinBackoff, MaxBackoff);
        var lastSuccess = DateTimeOffset.MinValue;
        while (!cancellationToken.IsCancellationRequested)
        {
            bool needed = !Dht.HasPeers || _time.GetUtcNow() - lastSuccess >= Rebootstrap;
            if (needed)
            {
                bool ok;
                try
                {
                    ok = await BootstrapOnceAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    // Any failure, expected (DNS, HTTP, dials) or not, is retried with backoff: a loop that ended would
                    // leave a node that never finds peers again once it lost them, with nothing else showing it.
                    if (PeerFailure.Is(ex) || ex is HttpRequestException)
                    {
                        LogBootstrapFailed(_logger, ex.Message);
                    }
                    else
                    {
                        LogBootstrapBroke(_logger, ex);
                    }

                    ok = false;
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                if (ok)
                {
                    lastSuccess = _time.GetUtcNow();
                    backoff.Reset();
                }
                else
                {
                    await backoff.WaitAsync(_time, cancellationToken).ConfigureAwait(false);
                    continue;
                }
            }

            // Check once a second whether we lost every peer (or the re-bootstrap time came).
            await DelayAsync(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_bootstrapLoop is not null)
        {
            await _bootstrapLoop.ConfigureAwait(false);
        }

        await Dht.DisposeAsync().ConfigureAwait(false);
        await Host.DisposeAsync().ConfigureAwait(false);
        await _publishing.DrainAsync(CancellationToken.None).ConfigureAwait(false); // they end with the host
    }

    [LoggerMessage(EventId = 1016, Level = LogLevel.Error, Message = "Bootstrap failed unexpectedly; asking again after the backoff")]
    private static partial void LogBootstrapBroke(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1401, Level = LogLevel.Information, Message = "Bootstrap: {Connected} of {Targets} peers answered; {TableSize} peers in the routing table")]
    private static partial void LogBootstrapped(ILogger logger, int connected, int targets, int tableSize);

    [LoggerMessage(EventId = 1402, Level = LogLevel.Warning, Message = "Bootstrap failed, retrying with backoff: {Reason}")]
    private static partial void LogBootstrapFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 1411, Level = LogLevel.Debug, Message = "Publishing records after announcing them to the nearest known peers failed: {Reason}")]
    private static partial void LogPublishFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 1403, Level = LogLevel.Information, Message = "Bootstrap found no peer but ourselves: running as a single-node cluster, and asking again with backoff (at most every 10 s) until a peer appears")]
    private static partial void LogAlone(ILogger logger);
}
