using System.Collections.Concurrent;
using Spegel.Libp2p.Primitives;

namespace Spegel.Libp2p.Transport;

/// <summary>What we know of other peers: addresses (with expiry) and the protocols identify reported.</summary>
public sealed class PeerStore(TimeProvider time)
{
    private readonly ConcurrentDictionary<PeerId, Entry> _entries = new();

    public void AddAddresses(PeerId peer, IEnumerable<Multiaddr> addresses, TimeSpan ttl)
    {
        var entry = _entries.GetOrAdd(peer, _ => new Entry());
        var expiry = time.GetUtcNow() + ttl;
        lock (entry)
        {
            foreach (var address in addresses)
            {
                var plain = address.WithoutPeerId();
                if (!entry.Addresses.TryGetValue(plain, out var current) || current < expiry)
                {
                    entry.Addresses[plain] = expiry;
                }
            }

            // Bound what one peer can make us remember.
            while (entry.Addresses.Count > 32)
            {
                entry.Addresses.Remove(entry.Addresses.MinBy(a => a.Value).Key);
            }
        }
    }

    public IReadOnlyList<Multiaddr> GetAddresses(PeerId peer)
    {
        if (!_entries.TryGetValue(peer, out var entry))
        {
            return [];
        }

        var now = time.GetUtcNow();
        lock (entry)
        {
            return entry.Addresses.Where(a => a.Value > now).Select(a => a.Key).ToList();
        }
    }

    public void SetProtocols(PeerId peer, IEnumerable<string> protocols)
    {
        var entry = _entries.GetOrAdd(peer, _ => new Entry());
        lock (entry)
        {
            entry.Protocols = protocols.Take(128).ToHashSet(StringComparer.Ordinal);
        }
    }

    public bool Supports(PeerId peer, string protocol)
    {
        if (!_entries.TryGetValue(peer, out var entry))
        {
            return false;
        }

        lock (entry)
        {
            return entry.Protocols.Contains(protocol);
        }
    }

    public IReadOnlyCollection<string> GetProtocols(PeerId peer)
    {
        if (!_entries.TryGetValue(peer, out var entry))
        {
            return [];
        }

        lock (entry)
        {
            return entry.Protocols.ToList();
        }
    }

    public void Remove(PeerId peer) => _entries.TryRemove(peer, out _);

    private sealed class Entry
    {
        public Dictionary<Multiaddr, DateTimeOffset> Addresses { get; } = [];

        public HashSet<string> Protocols { get; set; } = new(StringComparer.Ordinal);
    }
}
