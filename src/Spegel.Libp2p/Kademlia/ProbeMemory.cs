using Spegel.Libp2p.Primitives;

namespace Spegel.Libp2p.Kademlia;

/// <summary>
/// What the last reprovide probe of each of our keys saw (<see cref="DhtOptions.EnoughProviders"/>): a key whose closest
/// peers listed fewer than half that many other providers is provided without a probe for the next cycles, and probed
/// again every <see cref="ProbeEvery"/>th. A probe's answer carries up to 20 providers and 20 closer peers (about 2 KiB)
/// and would not have let such a key be skipped; most keys of a node are held by a few nodes only. Two bytes and a key
/// per local key, forgotten when the key is withdrawn.
/// </summary>
internal sealed class ProbeMemory(int enough)
{
    /// <summary>A rarely held key is probed once in this many reprovides (an hour at 15 minutes each).</summary>
    public const int ProbeEvery = 4;

    private readonly object _gate = new();
    private readonly Dictionary<Multihash, (byte Others, byte Unprobed)> _seen = [];

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _seen.Count;
            }
        }
    }

    /// <summary>Whether this reprovide of <paramref name="key"/> asks first; counts the reprovides that did not.</summary>
    public bool ShouldProbe(Multihash key)
    {
        lock (_gate)
        {
            if (!_seen.TryGetValue(key, out var last) || last.Others * 2 >= enough || last.Unprobed + 1 >= ProbeEvery)
            {
                return true;
            }

            _seen[key] = (last.Others, (byte)(last.Unprobed + 1));
            return false;
        }
    }

    /// <summary>A probe of <paramref name="key"/> found <paramref name="others"/> other providers listed ahead of us.</summary>
    public void Record(Multihash key, int others)
    {
        lock (_gate)
        {
            _seen[key] = ((byte)Math.Clamp(others, 0, 255), 0);
        }
    }

    /// <summary>Forgets the keys <paramref name="gone"/> says are no longer ours.</summary>
    public void Forget(Func<Multihash, bool> gone)
    {
        lock (_gate)
        {
            foreach (var key in _seen.Keys.Where(gone).ToList())
            {
                _seen.Remove(key);
            }
        }
    }
}
