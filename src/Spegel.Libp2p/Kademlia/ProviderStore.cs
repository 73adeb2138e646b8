using System.Collections.Concurrent;
using Spegel.Libp2p.Primitives;

namespace Spegel.Libp2p.Kademlia;

/// <summary>
/// Provider records: who said they have a key, until when (Spegel: 19 minutes), plus our own local records, which
/// never expire and stop at once when withdrawn. Bounded per key, per remote peer and in all; where a bound is reached
/// the records known longest are kept, so identities that appear later (sybils) cannot push honest providers out.
/// </summary>
public sealed class ProviderStore(TimeProvider time, TimeSpan validity)
{
    /// <summary>Providers kept per key: many more than a lookup asks for (Spegel takes the first that answers).</summary>
    public const int MaxProvidersPerKey = 64;

    /// <summary>
    /// Remote records in all. A node holds about 1,400 keys and each is stored on the k = 20 closest nodes, so a node
    /// stores 1,400 × 20 = 28,000 records on average whatever the cluster's size (in clusters of ≤ 20 nodes every node
    /// stores everything: N × 1,400 ≤ 28,000 too). 50,000 leaves room for a node whose share of the keyspace is 1.8×
    /// the average. A record costs about 100 bytes where many providers share a key (ProviderStoreTests), 264–318 with
    /// a realistic image population (bench scale, docs/benchmarks/scale.md) and about 540 where every record has a key
    /// of its own (a flood: DhtRecordBoundsTests), so the cap holds under 27 MiB of the chart's
    /// 128 MiB; past it, the peer holding the most records gives up its newest, so honest nodes keep their share.
    /// </summary>
    public const int MaxRecords = 50_000;

    /// <summary>
    /// Records one remote peer may hold here: a node sends us at most every key it has (in small clusters); 8,192 is
    /// about six times the 1,400 of a typical node. A node with more is still found: lookups reach it, and it answers
    /// for its own keys.
    /// </summary>
    public const int MaxRecordsPerPeer = 8_192;

    /// <summary>When the store is full, a sweep of expired records runs at most this often (it walks every record).</summary>
    private static readonly TimeSpan FullSweepInterval = TimeSpan.FromSeconds(30);

    private readonly object _gate = new();
    private readonly Dictionary<Multihash, KeyRecords> _byKey = [];
    // A peer's records, newest last (by arrival), and the peers by how many records they hold: a full store finds the
    // heaviest peer and its newest record without walking anything (a flood keeps a full store evicting on every record).
    private readonly Dictionary<PeerId, SortedSet<PeerRecord>> _byPeer = [];
    private readonly Dictionary<int, HashSet<PeerId>> _peersByCount = [];
    private int _mostHeld;
    private readonly ConcurrentDictionary<string, LocalRecord> _local = new();
    private int _count;

    // Arrival order of records, remote and local alike: providers of a key are listed first come, first listed, which
    // is what lets one node arbitrate between rival pull claims (Dht.ClaimAsync).
    private long _arrivals;
    private DateTimeOffset _nextFullSweep;

    public TimeSpan Validity => validity;

    public int RemoteKeyCount
    {
        get
        {
            lock (_gate)
            {
                return _byKey.Count;
            }
        }
    }

    /// <summary>Remote records held (one per key and provider).</summary>
    public int RecordCount
    {
        get
        {
            lock (_gate)
            {
                return _count;
            }
        }
    }

    public int LocalKeyCount => _local.Count;

    public static string Id(Multihash key) => key.ToString();

    /// <summary>How many records <paramref name="provider"/> holds here.</summary>
    public int RecordsOf(PeerId provider)
    {
        lock (_gate)
        {
            return _byPeer.TryGetValue(provider, out var keys) ? keys.Count : 0;
        }
    }

    /// <summary>
    /// Adds or refreshes a record. A new record is refused when its key already has <see cref="MaxProvidersPerKey"/>
    /// live providers or its provider holds <see cref="MaxRecordsPerPeer"/>; when the store is full, the peer holding the
    /// most records loses its newest one, if it holds more than this provider.
    /// </summary>
    /// <returns>Whether the record is held.</returns>
    public bool Add(Multihash key, PeerId provider)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            if (_byKey.TryGetValue(key, out var records) && records.Providers.TryGetValue(provider, out var existing))
            {
                records.Providers[provider] = existing with { Expires = now + validity };
                return true;
            }

            if (records is not null && records.Providers.Count >= MaxProvidersPerKey)
            {
                RemoveExpired(records, now);
                if (records.Providers.Count >= MaxProvidersPerKey)
                {
                    return false; // the providers known longest stay
                }
            }

            int held = _byPeer.TryGetValue(provider, out var keysOfPeer) ? keysOfPeer.Count : 0;
            if (held >= MaxRecordsPerPeer || (_count >= MaxRecords && !MakeRoom(held, now)))
            {
                return false;
            }

            if (records is null || (records.Providers.Count == 0 && !_byKey.ContainsKey(key)))
            {
                records = new KeyRecords(key);
                _byKey[key] = records;
            }

            var record = new Record(now, now + validity, ++_arrivals);
            records.Providers[provider] = record;
            if (keysOfPeer is null)
            {
                _byPeer[provider] = keysOfPeer = new SortedSet<PeerRecord>(ByArrival.Instance);
            }

            keysOfPeer.Add(new PeerRecord(record.Arrival, records));
            Recount(provider, keysOfPeer.Count - 1, keysOfPeer.Count);
            _count++;
            return true;
        }
    }

    /// <summary>Unexpired remote providers of <paramref name="key"/>, the one known longest first.</summary>
    public IReadOnlyList<PeerId> Get(Multihash key) => Get(key, self: null);

    /// <summary>
    /// Unexpired providers of <paramref name="key"/> in the order their records arrived (a refresh keeps a record's
    /// place), with <paramref name="self"/> at the place of our local record when we provide the key too.
    /// </summary>
    public IReadOnlyList<PeerId> Get(Multihash key, PeerId? self)
    {
        var now = time.GetUtcNow();
        var ordered = new List<(PeerId Peer, long Arrival)>();
        lock (_gate)
        {
            if (_byKey.TryGetValue(key, out var records))
            {
                ordered.AddRange(records.Providers.Where(p => p.Value.Expires > now).Select(p => (p.Key, p.Value.Arrival)));
            }

            if (self is not null && _local.TryGetValue(Id(key), out var local))
            {
                ordered.Add((self, local.Arrival));
            }
        }

        return ordered.OrderBy(p => p.Arrival).Select(p => p.Peer).ToList();
    }

    /// <summary>Provides <paramref name="key"/> from this node; a key provided already keeps its place in the order.</summary>
    public void AddLocal(Multihash key)
    {
        // Under the lock that orders remote records: a rival's record and ours get their places in one sequence, and a
        // reader sees a record as soon as its place is taken.
        lock (_gate)
        {
            _local.TryAdd(Id(key), new LocalRecord(key, ++_arrivals));
        }
    }

    public bool RemoveLocal(Multihash key) => _local.TryRemove(Id(key), out _);

    public bool IsLocal(Multihash key) => _local.ContainsKey(Id(key));

    public IReadOnlyCollection<Multihash> LocalKeys => _local.Values.Select(r => r.Key).ToList();

    /// <summary>Drops every record of <paramref name="provider"/> (it is gone); returns how many were removed.</summary>
    public int RemoveProvider(PeerId provider)
    {
        lock (_gate)
        {
            if (!_byPeer.TryGetValue(provider, out var keys))
            {
                return 0;
            }

            var held = keys.ToList();
            foreach (var entry in held)
            {
                Remove(entry.Records, provider);
            }

            return held.Count;
        }
    }

    /// <summary>Drops expired records; returns how many were removed.</summary>
    public int RemoveExpired()
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            int removed = 0;
            foreach (var records in _byKey.Values.ToList())
            {
                removed += RemoveExpired(records, now);
            }

            return removed;
        }
    }

    /// <summary>Frees one slot in a full store for a provider holding <paramref name="held"/> records; false if it may not.</summary>
    private bool MakeRoom(int held, DateTimeOffset now)
    {
        if (now >= _nextFullSweep)
        {
            _nextFullSweep = now + FullSweepInterval;
            foreach (var records in _byKey.Values.ToList())
            {
                RemoveExpired(records, now);
            }

            if (_count < MaxRecords)
            {
                return true;
            }
        }

        // Fair share: the heaviest holder gives up its newest record, but only to a provider holding fewer.
        if (_mostHeld <= held + 1)
        {
            return false;
        }

        var heaviest = _peersByCount[_mostHeld].First();
        Remove(_byPeer[heaviest].Max.Records, heaviest);
        return true;
    }

    private int RemoveExpired(KeyRecords records, DateTimeOffset now)
    {
        int removed = 0;
        foreach (var (peer, record) in records.Providers.ToList())
        {
            if (record.Expires <= now)
            {
                Remove(records, peer);
                removed++;
            }
        }

        return removed;
    }

    private void Remove(KeyRecords records, PeerId provider)
    {
        if (!records.Providers.Remove(provider, out var record))
        {
            return;
        }

        _count--;
        if (_byPeer.TryGetValue(provider, out var keys) && keys.Remove(new PeerRecord(record.Arrival, records)))
        {
            Recount(provider, keys.Count + 1, keys.Count);
            if (keys.Count == 0)
            {
                _byPeer.Remove(provider);
            }
        }

        if (records.Providers.Count == 0)
        {
            _byKey.Remove(records.Key);
        }
    }

    /// <summary>Moves <paramref name="peer"/> from the peers holding <paramref name="from"/> records to those holding <paramref name="to"/> (counts change by one).</summary>
    private void Recount(PeerId peer, int from, int to)
    {
        if (from > 0 && _peersByCount.TryGetValue(from, out var before))
        {
            before.Remove(peer);
            if (before.Count == 0)
            {
                _peersByCount.Remove(from);
            }
        }

        if (to > 0)
        {
            if (!_peersByCount.TryGetValue(to, out var after))
            {
                _peersByCount[to] = after = [];
            }

            after.Add(peer);
        }

        if (to > _mostHeld)
        {
            _mostHeld = to;
        }
        else if (from == _mostHeld && !_peersByCount.ContainsKey(from))
        {
            _mostHeld = from - 1; // the peer that held the most now holds one less, and no other held as many
        }
    }

    private readonly record struct Record(DateTimeOffset FirstSeen, DateTimeOffset Expires, long Arrival);

    /// <summary>One of a peer's records: its place in the arrival order, and its key's records.</summary>
    private readonly record struct PeerRecord(long Arrival, KeyRecords Records);

    /// <summary>A peer's records by arrival (unique: one counter for every record).</summary>
    private sealed class ByArrival : IComparer<PeerRecord>
    {
        public static readonly ByArrival Instance = new();

        public int Compare(PeerRecord x, PeerRecord y) => x.Arrival.CompareTo(y.Arrival);
    }

    private sealed record LocalRecord(Multihash Key, long Arrival);

    /// <summary>The providers of one key; compared by reference, so a peer's set of keys holds each key once.</summary>
    private sealed class KeyRecords(Multihash key)
    {
        public Multihash Key { get; } = key;

        public Dictionary<PeerId, Record> Providers { get; } = [];
    }
}
