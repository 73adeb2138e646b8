using Microsoft.Extensions.Time.Testing;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Primitives;

namespace Spegel.Libp2p.Tests.Kademlia;

/// <summary>Whole DHT networks in one process, on loopback.</summary>
public sealed class DhtNetworkTests
{
    [Fact]
    public async Task ThreeNodesFindEachOthersKeys()
    {
        await using var network = await DhtNetwork.StartAsync(3);
        var key = Cid.ForKey("sha256:3caa2469de2a23cbcc209dd0b9d01cd78ff9a0f88741655991d36baede5b0996").Hash;
        await network[0].ProvideAsync([key], CancellationToken.None);
        var found = await DhtNetwork.FindAsync(network[2], key);
        var provider = Assert.Single(found);
        Assert.Equal(network.Nodes[0].Host.Id, provider.Id);
        Assert.Equal(network.Nodes[0].Host.Addresses, provider.Addresses);
        Assert.Empty(await DhtNetwork.FindAsync(network[1], Cid.ForKey("nobody has this").Hash));
    }

    /// <summary>
    /// A record that matters at once (a pull claim) goes straight to the peers in the routing table, with no lookup
    /// first: in a network of k+1 nodes or fewer, that is every peer, and each holds it in its own store, where its next
    /// lookup looks first.
    /// </summary>
    [Fact]
    public async Task ProvidingToTheKnownNearestReachesEveryPeerOfASmallNetwork()
    {
        await using var network = await DhtNetwork.StartAsync(4);
        for (int i = 0; i < 4; i++)
        {
            int node = i;
            await TestHosts.WaitUntilAsync(() => network[node].RoutingTable.Count == 3);
        }

        var key = Cid.ForKey("spegel-pull/sha256:" + new string('c', 64)).Hash;
        await network[0].ProvideToKnownNearestAsync([key], CancellationToken.None);
        Assert.True(network[0].Providers.IsLocal(key));
        for (int i = 1; i < 4; i++)
        {
            int node = i;
            await TestHosts.WaitUntilAsync(() => network[node].Providers.Get(key).Contains(network.Nodes[0].Host.Id));
        }
    }

    [Fact]
    public async Task EveryKeyIsFoundByEveryNodeInAThirtyTwoNodeNetwork()
    {
        await using var network = await DhtNetwork.StartAsync(32);
        var keys = new List<(Multihash Key, int Provider)>();
        for (int i = 0; i < network.Nodes.Count; i++)
        {
            var key = Cid.ForKey($"docker.io/library/image{i}:1").Hash;
            keys.Add((key, i));
            await network[i].ProvideAsync([key], CancellationToken.None);
        }

        var misses = new List<string>();
        await Parallel.ForEachAsync(Enumerable.Range(0, network.Nodes.Count), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (finder, _) =>
        {
            foreach (var (key, provider) in keys)
            {
                if (provider == finder)
                {
                    continue;
                }

                var found = await DhtNetwork.FindAsync(network[finder], key);
                if (!found.Any(p => p.Id.Equals(network.Nodes[provider].Host.Id)))
                {
                    lock (misses)
                    {
                        misses.Add($"node {finder} did not find key of node {provider}");
                    }
                }
            }
        });
        Assert.Empty(misses);
    }

    [Fact]
    public async Task KeysStayFindableWhenANodeLeaves()
    {
        await using var network = await DhtNetwork.StartAsync(12);
        var key = Cid.ForKey("sha256:" + new string('a', 64)).Hash;
        await network[5].ProvideAsync([key], CancellationToken.None);

        // Node 0 (everyone's bootstrap peer) leaves: routing must not depend on it.
        await network[0].DisposeAsync();
        await network.Nodes[0].Host.DisposeAsync();
        for (int i = 1; i < network.Nodes.Count; i++)
        {
            if (i == 5)
            {
                continue;
            }

            var found = await DhtNetwork.FindAsync(network[i], key);
            Assert.Contains(found, p => p.Id.Equals(network.Nodes[5].Host.Id));
        }

        network.Nodes.RemoveAt(0);
    }

    [Fact]
    public async Task WithdrawStopsTheLocalRecordAtOnceAndRemoteRecordsExpire()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var network = await DhtNetwork.StartAsync(4, time);
        var key = Cid.ForKey("docker.io/library/withdrawn:1").Hash;
        await network[0].ProvideAsync([key], CancellationToken.None);
        Assert.NotEmpty(await DhtNetwork.FindAsync(network[1], key));
        await TestHosts.WaitUntilAsync(() => network[2].Providers.Get(key).Contains(network.Nodes[0].Host.Id));

        network[0].Withdraw([key]);
        Assert.False(network[0].Providers.IsLocal(key));
        Assert.Empty(network[0].LocalProviders(key));

        // Remote records live on for their validity (19 minutes), then nobody finds the key.
        time.Advance(TimeSpan.FromMinutes(18));
        Assert.Contains(network.Nodes[0].Host.Id, network[2].Providers.Get(key));
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Empty(network[2].Providers.Get(key));
        foreach (var node in network.Nodes)
        {
            node.Dht.Providers.RemoveExpired();
        }

        Assert.Empty(await DhtNetwork.FindAsync(network[3], key));

        // Positive control: after the same jump the network still answers, so the empty result above is the expiry and
        // not a network that stopped working.
        var fresh = Cid.ForKey("docker.io/library/fresh:1").Hash;
        await network[1].ProvideAsync([fresh], CancellationToken.None);
        Assert.Equal(network.Nodes[1].Host.Id, Assert.Single(await DhtNetwork.FindAsync(network[3], fresh)).Id);
    }

    [Fact]
    public async Task ReprovidingRenewsRecordsBeforeTheyExpire()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var network = await DhtNetwork.StartAsync(3, time);
        var key = Cid.ForKey("docker.io/library/renewed:1").Hash;
        await network[0].ProvideAsync([key], CancellationToken.None);

        // Sweep every slice once (what the reprovide loop does over 15 minutes), 15 minutes later.
        time.Advance(TimeSpan.FromMinutes(15));
        for (int slice = 0; slice < network[0].Options.ReprovideSlices; slice++)
        {
            await network[0].ReprovideSliceAsync(slice, CancellationToken.None);
        }

        // ADD_PROVIDER is one-way: node 1 stores the renewal when it reads it, whatever the clock says by then.
        time.Advance(TimeSpan.FromMinutes(10));
        await TestHosts.WaitUntilAsync(() => network[1].Providers.Get(key).Contains(network.Nodes[0].Host.Id));
    }
}
