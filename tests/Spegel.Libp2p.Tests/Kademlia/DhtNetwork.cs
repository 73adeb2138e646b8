using Microsoft.Extensions.Time.Testing;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Transport;

namespace Spegel.Libp2p.Tests.Kademlia;

/// <summary>An in-process network of DHT nodes on loopback.</summary>
internal sealed class DhtNetwork : IAsyncDisposable
{
    private DhtNetwork(List<(Libp2pHost Host, Dht Dht)> nodes)
    {
        Nodes = nodes;
    }

    public List<(Libp2pHost Host, Dht Dht)> Nodes { get; }

    public Dht this[int index] => Nodes[index].Dht;

    public static async Task<DhtNetwork> StartAsync(int count, TimeProvider? time = null, DhtOptions? options = null)
    {
        var nodes = new List<(Libp2pHost, Dht)>();
        for (int i = 0; i < count; i++)
        {
            nodes.Add(await StartNodeAsync(time, options));
        }

        // Everyone bootstraps off the first node, then refreshes so the tables fill.
        var first = TestHosts.AddressOf(nodes[0].Item1);
        await Task.WhenAll(nodes.Skip(1).Select(n => n.Item2.BootstrapAsync([first], CancellationToken.None)));
        await Task.WhenAll(nodes.Select(n => n.Item2.RefreshAsync(CancellationToken.None)));
        return new DhtNetwork(nodes);
    }

    /// <summary>
    /// A host on real time and a DHT on <paramref name="time"/>. Fake time is for the DHT's record lifetimes; the host's
    /// deadlines and keep-alives stay real, so a jump of minutes cannot cut a connection or a stream in flight.
    /// </summary>
    public static async Task<(Libp2pHost Host, Dht Dht)> StartNodeAsync(TimeProvider? time = null, DhtOptions? options = null)
    {
        var host = await TestHosts.StartAsync(TestHosts.Options());
        var dht = new Dht(host, (options ?? new DhtOptions { RequestTimeout = TimeSpan.FromSeconds(5) }) with { Time = time ?? TimeProvider.System });
        dht.Start();
        return (host, dht);
    }

    /// <summary>
    /// Providers of <paramref name="key"/>: a lookup ends by itself when it has <paramref name="count"/> or has asked
    /// everyone; the timeout only guards against a hang.
    /// </summary>
    public static async Task<List<PeerInfo>> FindAsync(Dht dht, Multihash key, int count = 1, int timeoutSeconds = 120)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        var found = new List<PeerInfo>();
        await foreach (var provider in dht.FindProvidersAsync(key, count, timeout.Token))
        {
            found.Add(provider);
        }

        return found;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (host, dht) in Nodes)
        {
            await dht.DisposeAsync();
            await host.DisposeAsync();
        }
    }
}
