using System.Globalization;
using System.Net;
using Microsoft.Extensions.Time.Testing;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Transport;

namespace Spegel.Bench.Scale;

/// <summary>
/// The simulation checked against the real thing: the same nodes (identities), joins and keys, once on loopback with
/// real Noise/yamux streams and once in memory; compared by where the records land (records per node, keys on all of
/// their 20 closest) and by what the same lookups find.
/// </summary>
internal static class ScaleCheck
{
    public static async Task<string> RunAsync(int nodes, int sample, int lookups, int seed)
    {
        var population = new KeyPopulation(5000, 40, 1.0, seed);
        var keyRandom = new Random(seed);
        var keys = Enumerable.Range(0, nodes).Select(_ => population.NodeKeys(1400, keyRandom, sample)).ToList();
        var joinRandom = new Random(seed + 1);
        var via = Enumerable.Range(0, nodes).Select(i => i == 0 ? -1 : joinRandom.Next(i)).ToList();
        var lookupRandom = new Random(seed + 2);
        var plans = new List<(int Finder, Multihash Key)>();
        while (plans.Count < lookups)
        {
            int finder = lookupRandom.Next(nodes), owner = lookupRandom.Next(nodes);
            var key = keys[owner][lookupRandom.Next(keys[owner].Count)];
            if (finder != owner && !keys[finder].Contains(key))
            {
                plans.Add((finder, key));
            }
        }

        Console.Error.WriteLine($"… check: {nodes} nodes, {keys.Average(k => k.Count):0} keys each, on loopback");
        var real = await RealAsync(nodes, keys, via, plans, seed, ownIpLimits: false);
        Console.Error.WriteLine("… check: on loopback with the per-IP connection limits (every node is 127.0.0.1 here)");
        var sharedIp = await RealAsync(nodes, keys, via, plans, seed, ownIpLimits: true);
        Console.Error.WriteLine("… check: the same in memory");
        var simulated = await SimulatedAsync(nodes, keys, via, plans, seed);
        string Row(string what, Outcome o) => string.Create(CultureInfo.InvariantCulture, $"| {what} | {o.RecordsMean:N0} / {o.RecordsMax:N0} | {o.ExactShare:P1} | {o.Found} of {plans.Count} | {o.ProvidersMean:0.0} |");
        return string.Join('\n',
            "| network | records per node mean / max | keys on all of their 20 closest | lookups that found a provider | providers per lookup (mean) |",
            "|---|---|---|---|---|",
            Row("real: loopback, Noise, yamux", real),
            Row("real, with the per-IP limits of one address (32 inbound connections)", sharedIp),
            Row("simulated: in memory", simulated));
    }

    /// <summary>
    /// On loopback every node has the address 127.0.0.1, so the host's per-IP limits (made for one node per IP) would
    /// refuse the 33rd node's connection: lifted unless <paramref name="ownIpLimits"/>, to see the DHT and not the limit.
    /// </summary>
    private static async Task<Outcome> RealAsync(int nodes, List<List<Multihash>> keys, List<int> via, List<(int Finder, Multihash Key)> plans, int seed, bool ownIpLimits)
    {
        var network = new List<(Libp2pHost Host, Dht Dht)>();
        try
        {
            for (int i = 0; i < nodes; i++)
            {
                var options = new HostOptions { Identity = SimNetwork.Identity(seed, i), Listen = [new IPEndPoint(IPAddress.Loopback, 0)], AnnounceLoopback = true };
                if (!ownIpLimits)
                {
                    options = options with { MaxConnectionsPerIp = 1024, MaxPendingHandshakesPerIp = 64 };
                }

                var host = new Libp2pHost(options);
                await host.StartAsync(CancellationToken.None);
                var dht = new Dht(host, new DhtOptions());
                dht.Start();
                network.Add((host, dht));
                if (i > 0)
                {
                    var seedNode = network[via[i]].Host;
                    await dht.BootstrapAsync([seedNode.Addresses[0].WithPeerId(seedNode.Id)], CancellationToken.None);
                }
            }

            await Parallel.ForEachAsync(Enumerable.Range(0, nodes), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (i, ct) => await network[i].Dht.ProvideAsync(keys[i], ct));
            return await MeasureAsync(network.Select(n => n.Dht).ToList(), keys, plans, lookup: async (finder, key) =>
            {
                var found = new List<PeerId>();
                await foreach (var provider in finder.FindProvidersAsync(key, 0, CancellationToken.None))
                {
                    found.Add(provider.Id);
                }

                return found;
            });
        }
        finally
        {
            foreach (var (host, dht) in network)
            {
                await dht.DisposeAsync();
                await host.DisposeAsync();
            }
        }
    }

    private static async Task<Outcome> SimulatedAsync(int nodes, List<List<Multihash>> keys, List<int> via, List<(int Finder, Multihash Key)> plans, int seed)
    {
        var network = new SimNetwork(new LinkModel(), new DhtOptions(), new FakeTimeProvider(), seed);
        for (int i = 0; i < nodes; i++)
        {
            var node = await network.AddNodeAsync(0);
            if (i > 0)
            {
                network.Connect(node, network.Nodes[via[i]]);
                await node.Dht.RefreshAsync(CancellationToken.None);
            }
        }

        await Parallel.ForEachAsync(Enumerable.Range(0, nodes), new ParallelOptions { MaxDegreeOfParallelism = 2 }, async (i, ct) => await network.Nodes[i].Dht.ProvideAsync(keys[i], ct));
        return await MeasureAsync(network.Nodes.Select(n => n.Dht).ToList(), keys, plans, lookup: (finder, key) =>
            Task.FromResult(SimLookup.Run(network.Nodes.First(n => n.Dht == finder), key, 1).Providers.Select(p => p.Provider).ToList()));
    }

    private static async Task<Outcome> MeasureAsync(List<Dht> dhts, List<List<Multihash>> keys, List<(int Finder, Multihash Key)> plans, Func<Dht, Multihash, Task<List<PeerId>>> lookup)
    {
        int exact = 0, pairs = 0;
        var histogram = new int[5];
        for (int i = 0; i < dhts.Count; i++)
        {
            foreach (var key in keys[i])
            {
                var position = KeySpace.Position(key.Bytes);
                var closest = dhts.Where(d => d != dhts[i])
                    .OrderBy(d => d.Host.Id, Comparer<PeerId>.Create((a, b) => KeySpace.CompareDistance(position, KeySpace.Position(a.Bytes), KeySpace.Position(b.Bytes))))
                    .Take(20);
                pairs++;
                // A key with more than 64 providers is kept for the first 64 only: count it placed when its closest hold 64.
                int holding = closest.Count(d => d.Providers.Get(key).Contains(dhts[i].Host.Id) || d.Providers.Get(key).Count >= ProviderStore.MaxProvidersPerKey);
                exact += holding == 20 ? 1 : 0;
                histogram[holding / 5]++;
            }
        }

        int found = 0;
        long providers = 0;
        foreach (var (finder, key) in plans)
        {
            var result = await lookup(dhts[finder], key);
            found += result.Count > 0 ? 1 : 0;
            providers += result.Count;
        }

        var records = dhts.Select(d => (double)d.Providers.RecordCount).ToList();
        Console.Error.WriteLine($"… of the 20 closest holding a key's record: 0-4 {histogram[0]}, 5-9 {histogram[1]}, 10-14 {histogram[2]}, 15-19 {histogram[3]}, 20 {histogram[4]}");
        return new Outcome(records.Average(), records.Max(), exact / (double)pairs, found, providers / (double)plans.Count);
    }

    private sealed record Outcome(double RecordsMean, double RecordsMax, double ExactShare, int Found, double ProvidersMean);
}
