using Microsoft.Extensions.Time.Testing;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protos;

namespace Spegel.Libp2p.Tests.Kademlia;

/// <summary>
/// A reprovide leaves out a key whose closest peers already list enough other providers (issue 13: a key every node
/// holds cost 20 ADD_PROVIDERs per node per cycle, most refused at the holders' 64-provider cap).
/// </summary>
public sealed class ReprovideSkipTests
{
    private const Message.Types.MessageType Add = Message.Types.MessageType.AddProvider;
    private const Message.Types.MessageType Get = Message.Types.MessageType.GetProviders;
    private static readonly Multihash Hot = Cid.ForKey("sha256:base-layer").Hash;
    private static readonly Multihash Rare = Cid.ForKey("sha256:only-on-the-last-node").Hash;

    /// <summary>Nodes that have met each other; each provides <see cref="Hot"/> in node order (the order holders list them), the last also <see cref="Rare"/>.</summary>
    private static async Task<InMemoryKadNetwork> EveryoneProvidesHotAsync(int count, int seed)
    {
        var network = await InMemoryKadNetwork.StartAsync(count, seed, new DhtOptions());
        network.MeetEveryone(TimeSpan.FromDays(1));
        foreach (var node in network.Nodes)
        {
            await node.ProvideAsync([Hot], CancellationToken.None);
        }

        await network.Nodes[^1].ProvideAsync([Rare], CancellationToken.None);
        network.Sent.Clear();
        return network;
    }

    [Fact]
    public async Task A_reprovide_leaves_out_a_key_that_twenty_earlier_providers_keep_findable()
    {
        var network = await EveryoneProvidesHotAsync(40, seed: 11);
        var first = network.Nodes[0];
        var late = network.Nodes[^1];

        await late.PublishAsync([Hot, Rare], reprovide: true, CancellationToken.None);
        await first.PublishAsync([Hot], reprovide: true, CancellationToken.None);

        Assert.Equal(0, network.Count(Add, Hot, late.Host.Id)); // 20 others are listed ahead of it
        Assert.Equal(1, network.Count(Get, Hot, late.Host.Id)); // the one probe that told it so
        Assert.Equal(20, network.Count(Add, Rare, late.Host.Id)); // nobody else keeps this one
        Assert.Equal(20, network.Count(Add, Hot, first.Host.Id)); // listed first: its record must not expire
    }

    /// <summary>A probe that fails (the peer resets the stream, or cannot be reached) leaves its keys provided as usual.</summary>
    [Fact]
    public async Task A_failed_probe_provides_the_key_as_usual()
    {
        var network = await EveryoneProvidesHotAsync(40, seed: 11);
        var late = network.Nodes[^1];
        network.FailRequests = m => m.Type == Get;

        await late.PublishAsync([Hot], reprovide: true, CancellationToken.None);

        Assert.Equal(1, network.Count(Get, Hot, late.Host.Id));
        Assert.Equal(20, network.Count(Add, Hot, late.Host.Id));
    }

    /// <summary>
    /// A probe's answer (about 2 KiB) is wasted on a key few nodes hold: after a probe that found few other providers,
    /// the key is provided without asking for three reprovides, then asked again. A well-provided key is asked every time
    /// (its providers may go).
    /// </summary>
    [Fact]
    public async Task A_key_few_others_provide_is_probed_once_in_four_reprovides()
    {
        var network = await EveryoneProvidesHotAsync(30, seed: 14);
        var late = network.Nodes[^1];
        for (int cycle = 0; cycle < 5; cycle++)
        {
            await late.PublishAsync([Hot, Rare], reprovide: true, CancellationToken.None);
        }

        Assert.Equal(2, network.Count(Get, Rare, late.Host.Id)); // the first and the fifth
        Assert.Equal(5 * 20, network.Count(Add, Rare, late.Host.Id));
        Assert.Equal(5, network.Count(Get, Hot, late.Host.Id));
        Assert.Equal(0, network.Count(Add, Hot, late.Host.Id));
    }

    /// <summary>
    /// A DHT member answering the probe with providers it made up (or that we never met) must not make us stop advertising
    /// a key: only providers in our own peer store count.
    /// </summary>
    [Fact]
    public async Task Providers_the_prober_never_met_do_not_count()
    {
        var network = await InMemoryKadNetwork.StartAsync(30, seed: 15, new DhtOptions());
        var key = Cid.ForKey("sha256:only-on-the-last-node").Hash;
        var control = Cid.ForKey("sha256:also-only-on-the-last-node").Hash;
        var late = network.Nodes[^1];
        var fakes = Enumerable.Range(0, 25).Select(i => (Id: new Spegel.Libp2p.Crypto.PrivateKey(Enumerable.Repeat((byte)(i + 1), 32).ToArray()).PeerId, Address: Multiaddr.Parse($"/ip4/10.77.0.{200 + i}/tcp/5001"))).ToList();
        foreach (var node in network.Nodes.Take(29))
        {
            foreach (var (id, address) in fakes)
            {
                node.Host.Peers.AddAddresses(id, [address], TimeSpan.FromHours(1)); // the holders vouch for them
                node.Providers.Add(key, id); // listed before the real provider
                node.Providers.Add(control, id);
            }
        }

        await late.ProvideAsync([key, control], CancellationToken.None);
        network.Sent.Clear();
        await late.PublishAsync([key], reprovide: true, CancellationToken.None);
        Assert.Equal(1, network.Count(Get, key, late.Host.Id));
        Assert.Equal(20, network.Count(Add, key, late.Host.Id)); // not skipped: it never met them

        // The same listing of providers it has met (the control key): skipped. The check is what held above.
        foreach (var (id, address) in fakes)
        {
            late.Host.Peers.AddAddresses(id, [address], TimeSpan.FromHours(1));
        }

        await late.PublishAsync([control], reprovide: true, CancellationToken.None);
        Assert.Equal(1, network.Count(Get, control, late.Host.Id));
        Assert.Equal(0, network.Count(Add, control, late.Host.Id));
    }

    [Fact]
    public async Task A_first_provide_and_a_node_with_the_rule_off_send_every_key()
    {
        var off = await InMemoryKadNetwork.StartAsync(30, seed: 12, new DhtOptions { EnoughProviders = 0 });
        var hot = Cid.ForKey("sha256:base-layer").Hash;
        foreach (var node in off.Nodes)
        {
            await node.ProvideAsync([hot], CancellationToken.None);
        }

        Assert.Equal(20, off.Count(Add, hot, off.Nodes[^1].Host.Id)); // a first provide is never skipped
        off.Sent.Clear();
        await off.Nodes[^1].PublishAsync([hot], reprovide: true, CancellationToken.None);
        Assert.Equal(20, off.Count(Add, hot, off.Nodes[^1].Host.Id));
        Assert.Equal(0, off.Count(Get, hot));
    }

    /// <summary>
    /// Over cycles the skipping nodes' records expire and the key stays findable through the providers listed first;
    /// when those stop providing it, the next reprovides of the others fill their places.
    /// </summary>
    [Fact]
    public async Task The_key_stays_findable_over_cycles_and_when_its_first_providers_stop()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = new DhtOptions { Time = time };
        var network = await InMemoryKadNetwork.StartAsync(51, seed: 13, options);
        network.MeetEveryone(TimeSpan.FromDays(1));
        var finder = network.Nodes[^1]; // never provides the key
        var providers = network.Nodes.Take(50).ToList();
        var hot = Cid.ForKey("sha256:base-layer").Hash;
        foreach (var node in providers)
        {
            await node.ProvideAsync([hot], CancellationToken.None);
        }

        async Task<int> CycleAsync(IEnumerable<Dht> nodes)
        {
            time.Advance(options.ReprovideInterval);
            network.Sent.Clear();
            foreach (var node in nodes)
            {
                await node.PublishAsync([hot], reprovide: true, CancellationToken.None);
            }

            return network.Count(Add, hot);
        }

        int firstCycle = await CycleAsync(providers);
        int secondCycle = await CycleAsync(providers);
        // The 20 listed first send theirs, and a few more: the key's 21 holders do not all list the same 20 first (the
        // 21st closest holds only the records of the 20 closest, and a holder lists itself where its own record came),
        // and each node probes one of them. Without the rule: 50 × 20 = 1,000.
        Assert.InRange(firstCycle, 20 * 20, 25 * 20);
        Assert.InRange(secondCycle, 20 * 20, 25 * 20);

        time.Advance(TimeSpan.FromMinutes(5)); // the first provides (t = 0) expired at 19 min; the listed ones sent at 30
        var found = await FindAsync(finder, hot);
        Assert.True(found.Count >= 20, $"a lookup found {found.Count} providers");
        Assert.All(found, p => Assert.Contains(providers, n => n.Host.Id.Equals(p)));

        // The providers listed first stop providing the key (their records are dropped where they are held).
        var listed = Holders(network, hot).SelectMany(h => h.Providers.Get(hot)).Distinct().ToList();
        var stopped = providers.Where(n => listed.Contains(n.Host.Id)).ToList();
        foreach (var node in stopped)
        {
            node.Withdraw([hot]);
            foreach (var other in network.Nodes)
            {
                other.Providers.RemoveProvider(node.Host.Id);
            }
        }

        var remaining = providers.Except(stopped).ToList();
        Assert.True(remaining.Count >= 20, $"only {remaining.Count} providers left to test with");
        await CycleAsync(remaining);
        var refound = await FindAsync(finder, hot);
        Assert.True(refound.Count >= 19, $"after the first providers stopped, a lookup found {refound.Count}");
        Assert.All(refound, p => Assert.Contains(remaining, n => n.Host.Id.Equals(p)));
    }

    private static IEnumerable<Dht> Holders(InMemoryKadNetwork network, Multihash key) =>
        network.Nodes.Where(n => n.Providers.Get(key).Count > 0);

    private static async Task<List<PeerId>> FindAsync(Dht finder, Multihash key)
    {
        var found = new List<PeerId>();
        await foreach (var provider in finder.FindProvidersAsync(key, 0, CancellationToken.None))
        {
            found.Add(provider.Id);
        }

        return found;
    }
}
