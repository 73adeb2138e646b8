using Spegel.Libp2p.Primitives;

namespace Spegel.Libp2p.Transport;

/// <summary>
/// What we know first-hand of other peers: the addresses they told us (identify, their own ADD_PROVIDER record) or
/// that we dialed them at, with expiry, and which of our protocols they speak. Third-party claims (closer peers and
/// providers in DHT answers) are not stored here: they travel with the lookup that received them, so a DHT member
/// cannot fill our memory with peers we never met. Bounded: addresses per peer, and peers in all, by sweeping expired
/// entries and then the least recently updated ones that no connection or routing table holds (<see cref="Pin"/>).
/// </summary>
public sealed class PeerStore(TimeProvider time)
{
    /// <summary>
    /// Peers remembered: a Spegel node meets every node of its cluster (all of them send it ADD_PROVIDER for some keys),
    /// and clusters stop at 5,000 nodes. At ≤ 8 short addresses each, an entry is well under 2 KB: ≤ 16 MB at the cap.
    /// </summary>
    public const int MaxPeers = 8_192;

    /// <summary>
    /// Addresses remembered per peer, the longest-lived kept: a node announces one per interface IP and family, a
    /// handful in practice (go caps identify at its own whim; we at this).
    /// </summary>
    public const int MaxAddressesPerPeer = 8;

    /// <summary>
    /// Longest address remembered: <c>/ip6/…/tcp/…</c> is 20 bytes and <c>/dns4/&lt;name&gt;/tcp/…</c> fits a 60-character
    /// name; kilobyte-long multiaddrs are allowed on the wire but nothing real needs them.
    /// </summary>
    public const int MaxAddressBytes = 64;

    /// <summary>Protocols remembered per peer (js lists about 10, go about 15).</summary>
    public const int MaxProtocolsPerPeer = 32;

    /// <summary>Characters of protocols we do not speak remembered per peer (a typical peer lists about 250).</summary>
    public const int MaxForeignProtocolChars = 1024;

    private readonly object _gate = new();
    private readonly Dictionary<PeerId, Entry> _entries = [];
    private readonly List<Func<PeerId, bool>> _pins = [];

    /// <summary>Peers with an entry.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Keeps a peer's entry while <paramref name="isPinned"/> says so (connected, in a routing table).</summary>
    public void Pin(Func<PeerId, bool> isPinned)
    {
        lock (_gate)
        {
            _pins.Add(isPinned);
        }
    }

    public void AddAddresses(PeerId peer, IEnumerable<Multiaddr> addresses, TimeSpan ttl)
    {
        var now = time.GetUtcNow();
        var expiry = now + ttl;
        lock (_gate)
        {
            var entry = GetOrAdd(peer, now);
            foreach (var address in addresses)
            {
                var plain = address.WithoutPeerId();
                if (plain.Bytes.Length > MaxAddressBytes)
                {
                    continue;
                }

                if (!entry.Addresses.TryGetValue(plain, out var current) || current < expiry)
                {
                    entry.Addresses[plain] = expiry;
                }
            }

            // Bound what one peer can make us remember: the addresses that expire first go.
            while (entry.Addresses.Count > MaxAddressesPerPeer)
            {
                entry.Addresses.Remove(entry.Addresses.MinBy(a => a.Value).Key);
            }
        }
    }

    public IReadOnlyList<Multiaddr> GetAddresses(PeerId peer)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            return _entries.TryGetValue(peer, out var entry) ? entry.Addresses.Where(a => a.Value > now).Select(a => a.Key).ToList() : [];
        }
    }

    /// <summary>
    /// Records what identify reported: at most <see cref="MaxProtocolsPerPeer"/> protocols; those in
    /// <paramref name="known"/> (ours) are kept as our own string instances, others only up to
    /// <see cref="MaxForeignProtocolChars"/> characters in all, so a peer listing long names costs little.
    /// </summary>
    public void SetProtocols(PeerId peer, IEnumerable<string> protocols, IReadOnlyCollection<string>? known = null)
    {
        var ours = known?.ToDictionary(p => p, p => p, StringComparer.Ordinal);
        var kept = new HashSet<string>(StringComparer.Ordinal);
        int foreignChars = 0;
        foreach (var protocol in protocols)
        {
            if (kept.Count >= MaxProtocolsPerPeer)
            {
                break;
            }

            if (ours is not null && ours.TryGetValue(protocol, out var own))
            {
                kept.Add(own);
            }
            else if (foreignChars + protocol.Length <= MaxForeignProtocolChars && kept.Add(protocol))
            {
                foreignChars += protocol.Length;
            }
        }

        lock (_gate)
        {
            var entry = GetOrAdd(peer, time.GetUtcNow());
            entry.Protocols = kept;
            entry.Identified = true;
        }
    }

    public bool Supports(PeerId peer, string protocol)
    {
        lock (_gate)
        {
            return _entries.TryGetValue(peer, out var entry) && entry.Protocols.Contains(protocol);
        }
    }

    public IReadOnlyCollection<string> GetProtocols(PeerId peer)
    {
        lock (_gate)
        {
            return _entries.TryGetValue(peer, out var entry) ? entry.Protocols.ToList() : [];
        }
    }

    /// <summary>Whether identify has told us about <paramref name="peer"/> (even if it speaks nothing of ours).</summary>
    public bool IsIdentified(PeerId peer)
    {
        lock (_gate)
        {
            return _entries.TryGetValue(peer, out var entry) && entry.Identified;
        }
    }

    public void Remove(PeerId peer)
    {
        lock (_gate)
        {
            _entries.Remove(peer);
        }
    }

    /// <summary>Drops entries with no live address that nothing pins; returns how many went.</summary>
    public int RemoveExpired()
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            var pins = _pins.ToList();
            int removed = 0;
            foreach (var (peer, entry) in _entries.ToList())
            {
                if (!entry.Addresses.Values.Any(e => e > now) && !pins.Any(p => p(peer)))
                {
                    _entries.Remove(peer);
                    removed++;
                }
            }

            return removed;
        }
    }

    private Entry GetOrAdd(PeerId peer, DateTimeOffset now)
    {
        if (_entries.TryGetValue(peer, out var entry))
        {
            entry.Updated = now;
            return entry;
        }

        if (_entries.Count >= MaxPeers)
        {
            MakeRoom(now);
        }

        entry = new Entry { Updated = now };
        _entries[peer] = entry;
        return entry;
    }

    /// <summary>
    /// Full: expired entries go, then, if that freed less than a tenth, the least recently updated unpinned ones (so a
    /// sweep runs once per many additions). Pinned entries stay; they are bounded by connections and routing tables.
    /// </summary>
    private void MakeRoom(DateTimeOffset now)
    {
        var pins = _pins.ToList();
        var unpinned = _entries.Where(e => !pins.Any(p => p(e.Key))).ToList();
        foreach (var (peer, entry) in unpinned)
        {
            if (!entry.Addresses.Values.Any(e => e > now))
            {
                _entries.Remove(peer);
            }
        }

        int target = MaxPeers - (MaxPeers / 10);
        foreach (var (peer, _) in unpinned.Where(e => _entries.ContainsKey(e.Key)).OrderBy(e => e.Value.Updated))
        {
            if (_entries.Count <= target)
            {
                break;
            }

            _entries.Remove(peer);
        }
    }

    private sealed class Entry
    {
        public Dictionary<Multiaddr, DateTimeOffset> Addresses { get; } = [];

        public HashSet<string> Protocols { get; set; } = new(StringComparer.Ordinal);

        public bool Identified { get; set; }

        public DateTimeOffset Updated { get; set; }
    }
}
