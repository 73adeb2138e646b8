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

    /// <summary>The <paramref name="count"/> peers closest to a key position.</summary>
    public IReadOnlyList<PeerId> Nearest(byte[] targetPosition, int count)
    {
        List<PeerEntry> all;
        lock (_gate)
        {
            all = _buckets.SelectMany(b => b).ToList();
        }

        all.Sort((a, b) => KeySpace.CompareDistance(targetPosition, a.Position, b.Position));
        return all.Take(count).Select(e => e.Peer).ToList();
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
