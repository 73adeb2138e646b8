using Spegel.Libp2p.Primitives;

namespace Spegel.Libp2p.Kademlia;

/// <summary>
/// Kademlia k-buckets by common-prefix length with our own position. A full bucket keeps its peers (long-lived
/// peers are the reliable ones) unless one of them is known to have failed; least recently seen first.
/// </summary>
public sealed class RoutingTable
{
    private readonly byte[] _self;
    private readonly int _bucketSize;
    private readonly List<PeerEntry>[] _buckets;
    private readonly object _gate = new();

    public RoutingTable(PeerId self, int bucketSize)
    {
        _self = KeySpace.Position(self.Bytes);
        _bucketSize = bucketSize;
        _buckets = Enumerable.Range(0, 257).Select(_ => new List<PeerEntry>()).ToArray();
        Self = self;
    }

    public PeerId Self { get; }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _buckets.Sum(b => b.Count);
            }
        }
    }

    public event Action<PeerId>? PeerAdded;

    public event Action<PeerId>? PeerRemoved;

    /// <summary>Adds or refreshes a peer; false when its bucket is full of healthy peers.</summary>
    public bool TryAdd(PeerId peer)
    {
        if (peer.Equals(Self))
        {
            return false;
        }

        var position = KeySpace.Position(peer.Bytes);
        PeerId? evicted = null;
        lock (_gate)
        {
            var bucket = _buckets[KeySpace.CommonPrefixLength(_self, position)];
            int index = bucket.FindIndex(e => e.Peer.Equals(peer));
            if (index >= 0)
            {
                var entry = bucket[index];
                bucket.RemoveAt(index);
                bucket.Add(entry with { Failures = 0 });
                return true;
            }

            if (bucket.Count >= _bucketSize)
            {
                int failed = bucket.FindIndex(e => e.Failures > 0);
                if (failed < 0)
                {
                    return false;
                }

                evicted = bucket[failed].Peer;
                bucket.RemoveAt(failed);
            }

            bucket.Add(new PeerEntry(peer, position, 0));
        }

        if (evicted is not null)
        {
            PeerRemoved?.Invoke(evicted);
        }

        PeerAdded?.Invoke(peer);
        return true;
    }

    /// <summary>Marks a failed contact: a second failure in a row removes the peer.</summary>
    public void MarkFailed(PeerId peer)
    {
        bool removed = false;
        lock (_gate)
        {
            var bucket = _buckets[KeySpace.CommonPrefixLength(_self, KeySpace.Position(peer.Bytes))];
            int index = bucket.FindIndex(e => e.Peer.Equals(peer));
            if (index < 0)
            {
                return;
            }

            if (bucket[index].Failures >= 1)
            {
                bucket.RemoveAt(index);
                removed = true;
            }
            else
            {
                bucket[index] = bucket[index] with { Failures = bucket[index].Failures + 1 };
            }
        }

        if (removed)
        {
            PeerRemoved?.Invoke(peer);
        }
    }

    public void Remove(PeerId peer)
    {
        bool removed;
        lock (_gate)
        {
            removed = _buckets[KeySpace.CommonPrefixLength(_self, KeySpace.Position(peer.Bytes))].RemoveAll(e => e.Peer.Equals(peer)) > 0;
        }

        if (removed)
        {
            PeerRemoved?.Invoke(peer);
        }
    }

    public bool Contains(PeerId peer)
    {
        lock (_gate)
        {
            return _buckets[KeySpace.CommonPrefixLength(_self, KeySpace.Position(peer.Bytes))].Exists(e => e.Peer.Equals(peer));
        }
    }

    /// <summary>
    /// The network's size as seen from here: the buckets nearer than the first one that is not full hold every peer that
    /// exists that near (a table keeps all of them), and that part of the keyspace is 2^-b of it.
    /// </summary>
    public int EstimateNetworkSize()
    {
        lock (_gate)
        {
            int first = Array.FindIndex(_buckets, b => b.Count < _bucketSize);
            if (first < 0)
            {
                return int.MaxValue;
            }

            long near = 0;
            for (int i = first; i < _buckets.Length; i++)
            {
                near += _buckets[i].Count;
            }

            return (int)Math.Min(int.MaxValue, near << Math.Min(first, 30));
        }
    }

    /// <summary>
    /// The <paramref name="count"/> peers closest to a key position. Buckets are taken whole in order of distance, so only
    /// the few nearest are sorted (every FIND_NODE and GET_PROVIDERS answer asks this): with c the prefix the target
    /// shares with us, bucket c's peers share more than c bits with the target, the peers of the buckets beyond c share
    /// exactly c, and those of bucket i &lt; c share i.
    /// </summary>
    public IReadOnlyList<PeerId> Nearest(byte[] targetPosition, int count)
    {
        var candidates = new List<PeerEntry>();
        lock (_gate)
        {
            int c = KeySpace.CommonPrefixLength(_self, targetPosition);
            if (c < _buckets.Length - 1)
            {
                candidates.AddRange(_buckets[c]);
                if (candidates.Count < count)
                {
                    for (int i = c + 1; i < _buckets.Length; i++)
                    {
                        candidates.AddRange(_buckets[i]);
                    }
                }
            }

            for (int i = Math.Min(c, _buckets.Length - 1) - 1; i >= 0 && candidates.Count < count; i--)
            {
                candidates.AddRange(_buckets[i]);
            }
        }

        candidates.Sort((a, b) => KeySpace.CompareDistance(targetPosition, a.Position, b.Position));
        return candidates.Take(count).Select(e => e.Peer).ToList();
    }

    public IReadOnlyList<PeerId> All()
    {
        lock (_gate)
        {
            return _buckets.SelectMany(b => b).Select(e => e.Peer).ToList();
        }
    }

    private sealed record PeerEntry(PeerId Peer, byte[] Position, int Failures);
}
