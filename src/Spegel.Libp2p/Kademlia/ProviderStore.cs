using System.Collections.Concurrent;
using Spegel.Libp2p.Primitives;

namespace Spegel.Libp2p.Kademlia;

/// <summary>
/// Provider records: who said they have a key, until when (Spegel: 19 minutes), plus our own local records, which
/// never expire and stop at once when withdrawn. Bounded: per key and in all.
/// </summary>
public sealed class ProviderStore(TimeProvider time, TimeSpan validity)
{
    public const int MaxProvidersPerKey = 64;
    public const int MaxKeys = 1_000_000;
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<PeerId, DateTimeOffset>> _records = new();
    private readonly ConcurrentDictionary<string, Multihash> _local = new();

    public TimeSpan Validity => validity;

    public int RemoteKeyCount => _records.Count;

    public int LocalKeyCount => _local.Count;

    public static string Id(Multihash key) => key.ToString();

    public bool Add(Multihash key, PeerId provider)
    {
        if (!_records.ContainsKey(Id(key)) && _records.Count >= MaxKeys)
        {
            return false;
        }

        var providers = _records.GetOrAdd(Id(key), _ => new ConcurrentDictionary<PeerId, DateTimeOffset>());
        if (!providers.ContainsKey(provider) && providers.Count >= MaxProvidersPerKey)
        {
            var oldest = providers.MinBy(p => p.Value);
            providers.TryRemove(oldest.Key, out _);
        }

        providers[provider] = time.GetUtcNow() + validity;
        return true;
    }

    /// <summary>Unexpired remote providers of <paramref name="key"/>, newest first.</summary>
    public IReadOnlyList<PeerId> Get(Multihash key)
    {
        if (!_records.TryGetValue(Id(key), out var providers))
        {
            return [];
        }

        var now = time.GetUtcNow();
        return providers.Where(p => p.Value > now).OrderByDescending(p => p.Value).Select(p => p.Key).ToList();
    }

    public void AddLocal(Multihash key) => _local[Id(key)] = key;

    public bool RemoveLocal(Multihash key) => _local.TryRemove(Id(key), out _);

    public bool IsLocal(Multihash key) => _local.ContainsKey(Id(key));

    public IReadOnlyCollection<Multihash> LocalKeys => _local.Values.ToList();

    /// <summary>Drops expired records; returns how many were removed.</summary>
    public int RemoveExpired()
    {
        var now = time.GetUtcNow();
        int removed = 0;
        foreach (var (id, providers) in _records)
        {
            foreach (var (peer, expiry) in providers)
            {
                if (expiry <= now && providers.TryRemove(new KeyValuePair<PeerId, DateTimeOffset>(peer, expiry)))
                {
                    removed++;
                }
            }

            if (providers.IsEmpty)
            {
                _records.TryRemove(new KeyValuePair<string, ConcurrentDictionary<PeerId, DateTimeOffset>>(id, providers));
            }
        }

        return removed;
    }
}
