using System.Collections.Concurrent;
using System.Net;
using System.Runtime.CompilerServices;
using Spegel.Routing;

namespace Spegel.Tests.Coalescing;

/// <summary>
/// In-memory routers over one shared provider table: what one node advertises, the others find. Propagation delays run
/// on <paramref name="time"/> (fake time in tests that must decide who sees what, and when).
/// </summary>
internal sealed class SharedDht(TimeProvider? time = null)
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, IPAddress>> _providers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, bool>> _advertisers = new(StringComparer.Ordinal);
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    private readonly ConcurrentDictionary<string, List<(string Id, IPAddress Address)>> _arbitrated = new(StringComparer.Ordinal);

    /// <summary>
    /// Claims go through one arbiter (<see cref="IRouter.ClaimAsync"/>) that lists claimants in the order they came;
    /// off by default (no arbiter: the coalescer announces and waits out its settle time).
    /// </summary>
    public bool Arbitrates { get; set; }

    /// <summary>How long an advertisement takes to become visible to others (its AdvertiseAsync returns then).</summary>
    public TimeSpan PropagationDelay { get; set; }

    /// <summary>Every node that ever advertised <paramref name="key"/>, withdrawn or not.</summary>
    public IReadOnlyCollection<string> Advertisers(string key) =>
        _advertisers.TryGetValue(key, out var set) ? set.Keys.Order(StringComparer.Ordinal).ToList() : [];

    public IRouter Node(string id, IPAddress address) => new Router(this, id, address);

    public IReadOnlyCollection<string> Providers(string key) =>
        _providers.TryGetValue(key, out var set) ? set.Keys.ToList() : [];

    private sealed class Router(SharedDht dht, string id, IPAddress address) : IRouter
    {
        public string Id => id;

        public bool Ready => true;

        public async Task AdvertiseAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
        {
            foreach (string key in keys)
            {
                dht._advertisers.GetOrAdd(key, _ => new(StringComparer.Ordinal))[id] = true;
            }

            if (dht.PropagationDelay > TimeSpan.Zero)
            {
                await Task.Delay(dht.PropagationDelay, dht._time, cancellationToken);
            }

            foreach (string key in keys)
            {
                dht._providers.GetOrAdd(key, _ => new(StringComparer.Ordinal))[id] = address;
            }
        }

        public async Task<IReadOnlyList<RoutedPeer>?> ClaimAsync(string key, CancellationToken cancellationToken)
        {
            if (!dht.Arbitrates)
            {
                return null;
            }

            await Task.Yield();
            if (dht._providers.TryGetValue(key, out var existing) && existing.Keys.Any(p => p != id))
            {
                return existing.Where(p => p.Key != id).Select(p => new RoutedPeer(p.Key, [p.Value])).ToList();
            }

            List<RoutedPeer> order;
            var claims = dht._arbitrated.GetOrAdd(key, _ => []);
            lock (claims)
            {
                if (!claims.Any(c => c.Id == id))
                {
                    claims.Add((id, address));
                }

                order = claims.Select(c => new RoutedPeer(c.Id, [c.Address])).ToList();
            }

            await AdvertiseAsync([key], cancellationToken);
            return order;
        }

        public Task WithdrawAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken)
        {
            foreach (string key in keys)
            {
                if (dht._providers.TryGetValue(key, out var set))
                {
                    set.TryRemove(id, out _);
                }
            }

            return Task.CompletedTask;
        }

        public async IAsyncEnumerable<RoutedPeer> LookupAsync(string key, int count, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.Yield();
            if (dht._providers.TryGetValue(key, out var set))
            {
                foreach (var (peerId, ip) in set.ToArray())
                {
                    if (peerId != id)
                    {
                        yield return new RoutedPeer(peerId, [ip]);
                    }
                }
            }
        }
    }
}
