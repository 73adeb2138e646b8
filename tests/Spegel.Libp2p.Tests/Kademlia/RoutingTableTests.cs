using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Primitives;

namespace Spegel.Libp2p.Tests.Kademlia;

public sealed class RoutingTableTests
{
    /// <summary>Nearest takes whole buckets in order of distance and sorts only those: it must name exactly the peers a sort of the whole table names.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(20)]
    [InlineData(21)]
    [InlineData(1000)]
    public void NearestIsTheSameAsSortingTheWholeTable(int count)
    {
        var random = new Random(5);
        var self = Peer(random);
        var table = new RoutingTable(self, bucketSize: 20);
        var peers = Enumerable.Range(0, 3000).Select(_ => Peer(random)).ToList();
        foreach (var peer in peers)
        {
            table.TryAdd(peer);
        }

        var all = table.All();
        Assert.InRange(all.Count, 100, 400); // the near buckets hold few peers, the far ones are full
        var targets = Enumerable.Range(0, 200).Select(_ => KeySpace.Position(Peer(random).Bytes))
            .Append(KeySpace.Position(self.Bytes)) // our own ID: a refresh's lookup
            .Append(KeySpace.Position(all[0].Bytes)) // a peer's own ID
            .Append(KeySpace.Position(all[^1].Bytes));
        foreach (var target in targets)
        {
            var expected = all.OrderBy(p => KeySpace.Position(p.Bytes), Comparer<byte[]>.Create((a, b) => KeySpace.CompareDistance(target, a, b))).Take(count);
            Assert.Equal(expected, table.Nearest(target, count));
        }
    }

    [Fact]
    public void AnEmptyTableHasNoNearest() =>
        Assert.Empty(new RoutingTable(Peer(new Random(1)), 20).Nearest(new byte[32], 20));

    private static PeerId Peer(Random random)
    {
        var key = new byte[32];
        random.NextBytes(key);
        return new PrivateKey(key).PeerId;
    }
}
