using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Primitives;

namespace Spegel.Libp2p.Tests.Kademlia;

/// <summary>Where ProvideAsync puts records in a network larger than a routing table's view (issue 13).</summary>
public sealed class ProvidePlacementTests
{
    /// <summary>
    /// 100 nodes, 20 keys each: every record must reach the key's k closest nodes, where a lookup asks. Before issue 13
    /// a region's keys went to the peers of one lookup of its first key; in a region of more than k peers, some keys'
    /// records landed only beyond their 20 closest and no lookup found them.
    /// </summary>
    /// <summary>
    /// A lookup yields at most <see cref="DhtOptions.MaxProvidersPerLookup"/> providers, even for a key every node holds
    /// (a base layer): the rest of an answer that brought enough is not offered (up to 19 more were, measured by bench
    /// scale's hot key).
    /// </summary>
    [Fact]
    public async Task A_lookup_of_a_key_every_node_holds_yields_at_most_its_bound()
    {
        var options = new DhtOptions { MaxProvidersPerLookup = 5 };
        var network = await InMemoryKadNetwork.StartAsync(40, seed: 7, options);
        var key = Cid.ForKey("sha256:held-by-everyone").Hash;
        var position = KeySpace.Position(key.Bytes);
        // The finder is the node farthest from the key: it holds no record of it, so the providers come from answers.
        var finder = network.Nodes.OrderBy(n => KeySpace.Position(n.Host.Id.Bytes), Comparer<byte[]>.Create((a, b) => KeySpace.CompareDistance(position, a, b))).Last();
        foreach (var node in network.Nodes.Where(n => n != finder))
        {
            await node.ProvideAsync([key], CancellationToken.None);
        }

        Assert.Empty(finder.Providers.Get(key));
        var found = new List<PeerInfo>();
        await foreach (var provider in finder.FindProvidersAsync(key, 0, CancellationToken.None))
        {
            found.Add(provider);
        }

        Assert.Equal(5, found.Count);
        Assert.Equal(5, found.Select(p => p.Id).Distinct().Count());
    }

    [Fact]
    public async Task Every_record_reaches_the_keys_closest_nodes()
    {
        var options = new DhtOptions();
        var network = await InMemoryKadNetwork.StartAsync(100, seed: 13, options);
        var provided = new List<(Multihash Key, Dht Owner)>();
        for (int i = 0; i < network.Nodes.Count; i++)
        {
            var keys = Enumerable.Range(0, 20).Select(k => Cid.ForKey($"sha256:placement-{i}-{k}").Hash).ToList();
            await network.Nodes[i].ProvideAsync(keys, CancellationToken.None);
            provided.AddRange(keys.Select(k => (k, network.Nodes[i])));
        }

        var misplaced = new List<string>();
        foreach (var (key, owner) in provided)
        {
            var position = KeySpace.Position(key.Bytes);
            var closest = network.Nodes.Where(n => n != owner)
                .OrderBy(n => n.Host.Id, Comparer<PeerId>.Create((a, b) => KeySpace.CompareDistance(position, KeySpace.Position(a.Bytes), KeySpace.Position(b.Bytes))))
                .Take(options.K)
                .ToList();
            int holding = closest.Count(n => n.Providers.Get(key).Contains(owner.Host.Id));
            if (holding < options.K)
            {
                misplaced.Add($"{key}: {holding} of its {options.K} closest hold it");
            }
        }

        Assert.True(misplaced.Count == 0, $"{misplaced.Count} of {provided.Count} keys not on all their k closest nodes, e.g. {string.Join("; ", misplaced.Take(5))}");
    }

    /// <summary>
    /// Nodes that start together must not sweep the same keyspace slice in the same minute: in the simulation of 100
    /// nodes started within a minute, sweeps that all began at slice 0 brought each node its ADD_PROVIDERs within a few
    /// minutes of the fifteen.
    /// </summary>
    [Fact]
    public async Task Nodes_start_their_reprovide_sweep_at_different_slices()
    {
        var network = await InMemoryKadNetwork.StartAsync(40, seed: 7, new DhtOptions());
        var first = network.Nodes.Select(n => n.FirstSlice).ToList();
        Assert.All(first, s => Assert.InRange(s, 0, network.Nodes[0].Options.ReprovideSlices - 1));
        Assert.True(first.Distinct().Count() >= 8, $"40 nodes start their sweeps at only {first.Distinct().Count()} distinct slices");
    }

    [Fact]
    public void A_key_in_a_region_is_found_for_every_prefix()
    {
        foreach (int bits in new[] { 0, 1, 5, 12 })
        {
            int prefix = (1 << bits) - 1; // all ones: the last region
            var key = RegionExplorer.KeyIn(prefix, bits);
            Assert.Equal(prefix, RegionExplorer.PrefixOf(KeySpace.Position(key), bits));
        }
    }
}
