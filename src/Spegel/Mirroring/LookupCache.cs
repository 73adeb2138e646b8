using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Spegel.Routing;

namespace Spegel.Mirroring;

/// <summary>Whether a request may start a lookup (<see cref="LookupCache.Admit"/>).</summary>
internal enum LookupAdmission
{
    /// <summary>Yes (or it shares one that is cached or running).</summary>
    Admitted,

    /// <summary>This client started too many lookups lately.</summary>
    ClientRate,

    /// <summary>The node runs or remembers as many lookups as it allows.</summary>
    Capacity,
}

/// <summary>
/// Shares lookups: requests for one key within the cache time reuse the same (possibly still running) lookup and
/// see its peers as they arrive. After the first peer, a reader waits at most the resolve timeout for the next one.
/// For the first peer it waits until the lookup ends, capped at <see cref="MirrorOptions.FirstPeerTimeout"/>: a miss
/// is answered as soon as the DHT says nobody has the key (milliseconds in a healthy cluster), while a hit that
/// needs a fresh connection (a restarted node) is not lost to a 20 ms timer. A lookup that found fewer peers than
/// wanted is redone after half the cache time.
/// <para>
/// Bounded, because every miss of any client that reaches the registry port starts one (a flood of random digests
/// used to keep tens of thousands running): a request that would start a new lookup is first admitted
/// (<see cref="Admit"/>): each client (an IPv4 address, an IPv6 /64) may start <see cref="MirrorOptions.LookupBurstPerClient"/>
/// at once and <see cref="MirrorOptions.LookupsPerSecondPerClient"/> after that; at most
/// <see cref="MirrorOptions.MaxLookupsRunning"/> run and <see cref="MirrorOptions.MaxLookupEntries"/> are remembered.
/// A request that shares a cached or running lookup is always admitted.
/// </para>
/// </summary>
internal sealed class LookupCache(IRouter router, MirrorOptions options, Telemetry.SpegelInstruments? instruments = null)
{
    private readonly Telemetry.SpegelInstruments _instruments = instruments ?? new();
    private readonly Timing.KeyedRateLimit<IPAddress> _clients = new(options.LookupBurstPerClient, options.LookupsPerSecondPerClient, MaxClients, options.Time);

    // Clients with a rate of their own; beyond that, new clients share one (KeyedRateLimit).
    private const int MaxClients = 4096;

    // Lookups run in the background for everyone asking for the key; each ends within LookupLimit. Their failures are
    // the peers' absence (an empty answer), so the tracker only keeps them observed.
    private readonly Timing.WorkTracker _lookups = new(_ => { });

    /// <summary>Lookups still running (for tests and the debug page).</summary>
    public int Running => _lookups.Count;

    /// <summary>Lookups remembered, running or done (for tests).</summary>
    public int Cached => _entries.Count;
    private static readonly TimeSpan LookupLimit = TimeSpan.FromSeconds(10);
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private DateTimeOffset _nextPrune; // a race only prunes twice

    /// <summary>
    /// The peers of <paramref name="key"/> as they are found. With <paramref name="order"/> (striping a ranged request,
    /// <see cref="ChunkGrid.StripeOrder{T}"/>), the peers known when the first one is there are yielded in that order,
    /// then later ones as they come.
    /// </summary>
    public async IAsyncEnumerable<RoutedPeer> PeersAsync(
        string key, int count, [EnumeratorCancellation] CancellationToken cancellationToken, Func<IReadOnlyList<RoutedPeer>, IEnumerable<RoutedPeer>>? order = null)
    {
        var entry = GetEntry(key, count);
        int index = 0;
        while (true)
        {
            var (peer, waiter) = entry.Next(index);
            if (peer is not null && order is not null && index == 0)
            {
                var known = entry.Known();
                index = known.Count;
                foreach (var each in order(known))
                {
                    yield return each;
                }

                continue;
            }

            if (peer is not null)
            {
                index++;
                yield return peer;
                continue;
            }

            if (waiter is null)
            {
                yield break; // the lookup ended
            }

            var timeout = Task.Delay(index == 0 ? options.FirstPeerTimeout : options.ResolveTimeout, options.Time, cancellationToken);
            if (await Task.WhenAny(waiter, timeout).ConfigureAwait(false) == timeout)
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield break; // no new peer within the resolve timeout
            }
        }
    }

    /// <summary>
    /// Whether <paramref name="client"/> may look <paramref name="key"/> up now: always when a fresh lookup of the key is
    /// cached or running (it is shared), else within the client's rate and the node's bounds.
    /// </summary>
    public LookupAdmission Admit(IPAddress? client, string key, int count)
    {
        var now = options.Time.GetUtcNow();
        if (_entries.TryGetValue(key, out var existing) && !IsStale(existing, now, count))
        {
            return LookupAdmission.Admitted;
        }

        // The node's bound first: a client refused for capacity keeps its rate for when there is room.
        if (_lookups.Count >= options.MaxLookupsRunning)
        {
            return LookupAdmission.Capacity;
        }

        if (!_clients.TryTake(ClientKey(client)))
        {
            return LookupAdmission.ClientRate;
        }

        if (_entries.Count >= options.MaxLookupEntries)
        {
            Prune(now, force: true);
        }

        return _entries.Count >= options.MaxLookupEntries ? LookupAdmission.Capacity : LookupAdmission.Admitted;
    }

    /// <summary>
    /// Whom a rate belongs to: an IPv4 address, or an IPv6 /64 (one host may hold all of a /64, so a limit per IPv6
    /// address would be none). Without an address (not TCP), every such client is one.
    /// </summary>
    internal static IPAddress ClientKey(IPAddress? address)
    {
        if (address is null)
        {
            return IPAddress.None;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address;
        }

        byte[] bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes);
    }

    private bool IsStale(Entry entry, DateTimeOffset now, int count)
    {
        var age = now - entry.Started;
        return age > options.LookupCacheTtl || (entry.Completed && entry.Count < count && age > options.LookupCacheTtl / 2);
    }

    private Entry GetEntry(string key, int count)
    {
        var now = options.Time.GetUtcNow();
        while (true)
        {
            if (_entries.TryGetValue(key, out var existing))
            {
                if (!IsStale(existing, now, count))
                {
                    return existing;
                }

                _entries.TryRemove(new KeyValuePair<string, Entry>(key, existing));
            }

            var entry = new Entry(now);
            if (_entries.TryAdd(key, entry))
            {
                _lookups.Run(() => entry.RunAsync(router, _instruments.ResolveDuration, key, count));
                Prune(now);
                return entry;
            }
        }
    }

    /// <summary>
    /// Drops entries older than the cache's lifetime: at most once per half lifetime (it walks every entry, and a flood
    /// of new keys calls it on every miss), or at once when the cache is full.
    /// </summary>
    private void Prune(DateTimeOffset now, bool force = false)
    {
        if (_entries.Count < options.MaxLookupEntries / 4 || (!force && now < _nextPrune))
        {
            return;
        }

        _nextPrune = now + (options.LookupCacheTtl / 2);

        foreach (var (key, entry) in _entries)
        {
            if (now - entry.Started > options.LookupCacheTtl)
            {
                _entries.TryRemove(new KeyValuePair<string, Entry>(key, entry));
            }
        }
    }

    private sealed class Entry(DateTimeOffset started)
    {
        private readonly List<RoutedPeer> _peers = [];
        private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public DateTimeOffset Started { get; } = started;

        public bool Completed { get; private set; }

        public int Count
        {
            get
            {
                lock (_peers)
                {
                    return _peers.Count;
                }
            }
        }

        /// <summary>The peers found so far.</summary>
        public IReadOnlyList<RoutedPeer> Known()
        {
            lock (_peers)
            {
                return [.. _peers];
            }
        }

        /// <summary>The peer at <paramref name="index"/>, or a task completing when there may be one (null when done).</summary>
        public (RoutedPeer? Peer, Task? Waiter) Next(int index)
        {
            lock (_peers)
            {
                if (index < _peers.Count)
                {
                    return (_peers[index], null);
                }

                return (null, Completed ? null : _changed.Task);
            }
        }

        public async Task RunAsync(IRouter router, Prometheus.Histogram resolveDuration, string key, int count)
        {
            using var limit = new CancellationTokenSource(LookupLimit);
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            bool first = true;
            try
            {
                await foreach (var peer in router.LookupAsync(key, count, limit.Token).ConfigureAwait(false))
                {
                    if (first)
                    {
                        first = false;
                        resolveDuration.WithLabels("libp2p").Observe(System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds);
                    }

                    Publish(() => _peers.Add(peer));
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException)
            {
            }
            finally
            {
                Publish(() => Completed = true);
            }
        }

        private void Publish(Action change)
        {
            TaskCompletionSource signal;
            lock (_peers)
            {
                change();
                signal = _changed;
                _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            signal.TrySetResult();
        }
    }
}
