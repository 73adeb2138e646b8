using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Primitives;

namespace Spegel.Libp2p.Tests.Kademlia;

/// <summary>
/// A provider that leaves (its pod and VM gone) stops being returned long before its records expire (issue 13: up to
/// 19 minutes of lookups naming a node the autoscaler removed). Real hosts on loopback: the provider's host is disposed,
/// the holder sees its connection close, waits <see cref="DhtOptions.DepartedProviderCheck"/>, cannot reach it, and drops
/// its records; a provider that is still there keeps them.
/// </summary>
public sealed class DepartedProviderTests
{
    private static readonly DhtOptions Options = new() { RequestTimeout = TimeSpan.FromSeconds(5), DepartedProviderCheck = TimeSpan.FromMilliseconds(200) };

    [Fact]
    public async Task Records_of_a_provider_that_left_are_dropped_and_no_longer_returned()
    {
        await using var network = await DhtNetwork.StartAsync(3, options: Options);
        var key = Cid.ForKey("docker.io/library/departed:1").Hash;
        var leaving = network.Nodes[2];
        await leaving.Dht.ProvideAsync([key], CancellationToken.None);
        var holder = network[1];
        // Both other nodes hold a record before the provider leaves: a record that arrived after its connection closed
        // would be checked by nobody and stay the 19 minutes.
        await TestHosts.WaitUntilAsync(() => network[0].Providers.Get(key).Contains(leaving.Host.Id) && holder.Providers.Get(key).Contains(leaving.Host.Id));

        await leaving.Dht.DisposeAsync();
        await leaving.Host.DisposeAsync();

        // Records live 19 minutes: nothing but the check removes this one while the test runs. Both other nodes hold
        // a record (three nodes: each is among the key's nearest) and each runs its own check: the lookup from node 0
        // below reads node 0's store too, so wait for both, not for the holder alone.
        await TestHosts.WaitUntilAsync(() => network[0].Providers.RecordsOf(leaving.Host.Id) == 0 && holder.Providers.RecordsOf(leaving.Host.Id) == 0);
        Assert.DoesNotContain(leaving.Host.Id, (await DhtNetwork.FindAsync(network[0], key, count: 0)).Select(p => p.Id));
        network.Nodes.RemoveAt(2);
    }

    [Fact]
    public async Task A_provider_that_is_still_there_keeps_its_records()
    {
        await using var network = await DhtNetwork.StartAsync(3, options: Options);
        var key = Cid.ForKey("docker.io/library/staying:1").Hash;
        var provider = network.Nodes[2];
        await provider.Dht.ProvideAsync([key], CancellationToken.None);
        var holder = network[1];
        await TestHosts.WaitUntilAsync(() => holder.Providers.Get(key).Contains(provider.Host.Id));

        // Its connection closes (trimmed, say) but it is still there: the check reaches it and the record stays.
        await holder.Host.DisconnectAsync(provider.Host.Id);
        Assert.Equal(0, await holder.CheckProviderAsync(provider.Host.Id, CancellationToken.None));
        Assert.Contains(provider.Host.Id, holder.Providers.Get(key));
    }

    [Fact]
    public void RemoveProvider_drops_every_record_of_one_provider_only()
    {
        var store = new ProviderStore(TimeProvider.System, TimeSpan.FromMinutes(19));
        var gone = Spegel.Libp2p.Crypto.PrivateKey.Generate().PeerId;
        var staying = Spegel.Libp2p.Crypto.PrivateKey.Generate().PeerId;
        var keys = Enumerable.Range(0, 5).Select(i => Cid.ForKey($"k{i}").Hash).ToList();
        foreach (var key in keys)
        {
            store.Add(key, gone);
            store.Add(key, staying);
        }

        Assert.Equal(5, store.RemoveProvider(gone));
        Assert.Equal(0, store.RecordsOf(gone));
        Assert.Equal(5, store.RecordCount);
        Assert.All(keys, k => Assert.Equal([staying], store.Get(k)));
        Assert.Equal(0, store.RemoveProvider(gone));
    }
}
