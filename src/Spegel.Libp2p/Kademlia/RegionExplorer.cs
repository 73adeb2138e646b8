using System.Buffers.Binary;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protos;

namespace Spegel.Libp2p.Kademlia;

/// <summary>
/// Finds every peer of a keyspace region (the positions starting with a prefix), for providing the keys of that region
/// to their exact k closest peers with a few lookups instead of one per key. A FIND_NODE lookup toward a position in the
/// region returns the k peers closest to it; when one of them lies outside the region, every peer inside it is closer and
/// so is among them: the region is complete. When all k lie inside, the region holds more and its two halves are
/// explored the same way. A region with fewer than k peers is widened to its parent (the keys' k closest then include
/// peers of the sibling half). The sweeping provider of go-libp2p-kad-dht (what Spegel runs) explores regions so too.
/// </summary>
internal sealed class RegionExplorer(Dht dht, int deepest)
{
    /// <summary>Deepest prefix explored at all: a target for it costs ~10^6 hashes.</summary>
    internal const int MaxBits = 20;

    /// <summary>
    /// How far below the starting region exploration goes: 2^6 = 64 times more peers than expected there is not an honest
    /// cluster but IDs crafted to share a prefix, and each level deeper doubles the hashes a target costs.
    /// </summary>
    internal const int MaxDepth = 6;

    private readonly Dictionary<(int Prefix, int Bits), Task<(List<Peer> Inside, bool Complete)>> _looked = [];

    /// <summary>
    /// Pairs every key with the peers it goes to: the keys' region is explored, and only the halves that hold keys are
    /// explored further, so a reprovide slice costs lookups for its own part of the keyspace only.
    /// </summary>
    public async Task AssignAsync(int prefix, int bits, IReadOnlyList<(Multihash Key, byte[] Position)> keys, Action<Multihash, IEnumerable<PeerId>> assign, CancellationToken cancellationToken)
    {
        var (inside, complete) = await LookAsync(prefix, bits, cancellationToken).ConfigureAwait(false);
        if (!complete)
        {
            var halves = keys.GroupBy(k => PrefixOf(k.Position, bits + 1));
            await Task.WhenAll(halves.Select(half => AssignAsync(half.Key, bits + 1, [.. half], assign, cancellationToken))).ConfigureAwait(false);
            return;
        }

        var peers = inside;
        for (int p = prefix, b = bits; peers.Count < dht.Options.K && b > 0; p >>= 1, b--)
        {
            peers = [.. peers, .. await ExploreAsync(p ^ 1, b, cancellationToken).ConfigureAwait(false)];
        }

        foreach (var (key, position) in keys)
        {
            peers.Sort((a, b) => KeySpace.CompareDistance(position, a.Position, b.Position));
            assign(key, peers.Take(dht.Options.K).Select(p => p.Id));
        }
    }

    /// <summary>The first <paramref name="bits"/> bits of a position (bits ≤ 24).</summary>
    internal static int PrefixOf(ReadOnlySpan<byte> position, int bits) =>
        bits == 0 ? 0 : ((position[0] << 16) | (position[1] << 8) | position[2]) >> (24 - bits);

    /// <summary>A lookup key whose position starts with <paramref name="prefix"/>: positions are hashes, so one is searched for (2^bits tries on average).</summary>
    internal static byte[] KeyIn(int prefix, int bits)
    {
        var key = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(key, Random.Shared.NextInt64());
        while (PrefixOf(KeySpace.Position(key), bits) != prefix)
        {
            BinaryPrimitives.WriteInt64BigEndian(key, BinaryPrimitives.ReadInt64BigEndian(key) + 1);
        }

        return key;
    }

    /// <summary>Every peer of a region, however many lookups it takes.</summary>
    private async Task<List<Peer>> ExploreAsync(int prefix, int bits, CancellationToken cancellationToken)
    {
        var (inside, complete) = await LookAsync(prefix, bits, cancellationToken).ConfigureAwait(false);
        if (complete)
        {
            return inside;
        }

        var low = ExploreAsync(prefix << 1, bits + 1, cancellationToken);
        var high = ExploreAsync((prefix << 1) | 1, bits + 1, cancellationToken);
        return [.. await low.ConfigureAwait(false), .. await high.ConfigureAwait(false)];
    }

    /// <summary>One lookup toward the region (once per region and explorer): the peers found inside, and whether they are all there are.</summary>
    private Task<(List<Peer> Inside, bool Complete)> LookAsync(int prefix, int bits, CancellationToken cancellationToken)
    {
        lock (_looked)
        {
            if (!_looked.TryGetValue((prefix, bits), out var task))
            {
                _looked[(prefix, bits)] = task = RunAsync();
            }

            return task;
        }

        async Task<(List<Peer>, bool)> RunAsync()
        {
            var lookup = new Lookup(dht, KeyIn(prefix, bits), Message.Types.MessageType.FindNode);
            await lookup.RunAsync((_, _) => false, cancellationToken).ConfigureAwait(false);
            var closest = lookup.Responded.Take(dht.Options.K).Select(p => new Peer(p, KeySpace.Position(p.Bytes))).ToList();
            var inside = closest.Where(p => PrefixOf(p.Position, bits) == prefix).ToList();
            // Complete when the k closest reach outside the region, or there are fewer than k peers at all.
            return (inside, inside.Count < closest.Count || closest.Count < dht.Options.K || bits >= Math.Min(deepest, MaxBits));
        }
    }

    internal sealed record Peer(PeerId Id, byte[] Position);
}
