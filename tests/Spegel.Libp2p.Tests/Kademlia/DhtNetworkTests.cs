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

    /// <summary>A reprovide's probes of one peer travel on one stream: each answer is read before the next request, in order.</summary>
    [Fact]
    public async Task SeveralRequestsOnOneStreamAreAnsweredInOrder()
    {
        await using var network = await DhtNetwork.StartAsync(2);
        await TestHosts.WaitUntilAsync(() => network[1].RoutingTable.Count == 1);
        var keys = Enumerable.Range(0, 5).Select(i => Cid.ForKey($"sha256:probe-{i}").Hash).ToList();
        await network[0].ProvideAsync([keys[1], keys[3]], CancellationToken.None);
        var requests = keys.Select(k => new Protos.Message { Type = Protos.Message.Types.MessageType.GetProviders, Key = Google.Protobuf.ByteString.CopyFrom(k.Bytes) }).ToList();

        var answers = await network[1].Client.RequestEachAsync(network.Nodes[0].Host.Id, requests, CancellationToken.None);

        Assert.Equal(keys.Select(k => Convert.ToHexString(k.Bytes)), answers.Select(a => Convert.ToHexString(a.Key.ToByteArray())));
        Assert.Equal([0, 1, 0, 1, 0], answers.Select(a => a.ProviderPeers.Count));
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

    /// <summary>
    /// Rival claims of one key are decided by one arbiter, the node nearest the key: each claimant's ADD_PROVIDER and
    /// GET_PROVIDERS travel on one stream, so whatever the interleaving, every claimant reads the same order, and
    /// exactly one of them is listed first in its own answer. A node whose lookup already finds a claim claims nothing
    /// and gets the claimants; so does one that comes later.
    /// </summary>
    [Fact]
    public async Task RivalClaimsAtOnceAgreeOnWhoWasFirst()
    {
        // Every claimant must reach the same arbiter: a request that timed out on a loaded machine would send one to
        // another (two leaders), which is the failure mode of a slow node, not of the order tested here.
        await using var network = await DhtNetwork.StartAsync(5, options: new DhtOptions { RequestTimeout = TimeSpan.FromSeconds(30) });
        for (int i = 0; i < 5; i++)
        {
            int node = i;
            await TestHosts.WaitUntilAsync(() => network[node].RoutingTable.Count == 4);
        }

        for (int round = 0; round < 10; round++)
        {
            var key = Cid.ForKey($"spegel-pull/sha256:{round:x2}{new string('d', 62)}").Hash;
            var outcomes = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => Task.Run(() => network[i].ClaimAsync(key, CancellationToken.None))));
            var firsts = new List<PeerId>();
            var claimed = new List<IReadOnlyList<PeerId>>();
            for (int i = 0; i < 4; i++)
            {
                var outcome = outcomes[i] ?? throw new InvalidOperationException($"round {round}: node {i} found no arbiter");
                var ids = outcome.Providers.Select(p => p.Id).ToList();
                Assert.Equal(outcome.Claimed, ids.Contains(network.Nodes[i].Host.Id));
                Assert.NotEmpty(ids);
                if (outcome.Claimed)
                {
                    claimed.Add(ids);
                    if (ids[0].Equals(network.Nodes[i].Host.Id))
                    {
                        firsts.Add(ids[0]);
                    }
                }
            }

            var leader = Assert.Single(firsts);
            Assert.All(claimed, ids => Assert.Equal(leader, ids[0]));

            var late = await network[4].ClaimAsync(key, CancellationToken.None);
            Assert.False(late!.Claimed);
            Assert.Contains(leader, late.Providers.Select(p => p.Id));
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
