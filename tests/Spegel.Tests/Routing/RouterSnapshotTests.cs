using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Spegel.Hosting;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Transport;
using Spegel.Mirroring;
using Spegel.Routing;
using Spegel.Routing.Bootstrap;

namespace Spegel.Tests.Routing;

/// <summary>What the router tells the debug page about itself and its peers (the page no longer reads the DHT).</summary>
public sealed class RouterSnapshotTests
{
    [Fact]
    public async Task TheSnapshotAndTheDebugPageListAConnectedPeerWithItsAddresses()
    {
        await using var a = await StartRouterAsync(new StaticBootstrapper([]));
        await using var b = await StartRouterAsync(new StaticBootstrapper([a.Host.Addresses[0].WithPeerId(a.Host.Id)]));
        using var wait = new CancellationTokenSource(TimeSpan.FromMinutes(1)); // a hang guard, not a timing assertion
        while (!(b.Ready && b.Host.ConnectedPeers.Contains(a.Host.Id)))
        {
            await Task.Delay(20, wait.Token);
        }

        var snapshot = b.Snapshot();
        Assert.Equal(b.Id, snapshot.Id);
        Assert.Equal(b.Host.Addresses.Select(x => x.ToString()), snapshot.Addresses);
        var peer = Assert.Single(snapshot.Peers);
        Assert.Equal(a.Id, peer.Id);
        Assert.True(peer.Connected);
        Assert.Contains(a.Host.Addresses[0].ToString(), peer.Addresses);

        string page = DebugPage.Render(new DebugSources(b, null, new MirrorStats(), new NodeReadiness(b, null)), "test", "token");
        Assert.Contains($"<tr><th>Peer ID</th><td>{b.Id}</td></tr>", page, StringComparison.Ordinal);
        Assert.Contains($"<tr><td><code>{a.Id}</code></td><td>yes</td><td>{string.Join(", ", peer.Addresses)}</td></tr>", page, StringComparison.Ordinal);
    }

    [Fact]
    public void WithoutARouterThePageSaysSo()
    {
        string page = DebugPage.Render(new DebugSources(null, null, new MirrorStats(), new NodeReadiness(new LocalOnlyRouter(), null)), "test", "token");
        Assert.Contains("<tr><th>Peer ID</th><td>(no router)</td></tr>", page, StringComparison.Ordinal);
        Assert.Contains("<tr><th>peer</th><th>connected</th><th>addresses</th></tr></table>", page, StringComparison.Ordinal);
    }

    private static async Task<P2PRouter> StartRouterAsync(IBootstrapper bootstrapper)
    {
        var host = new Libp2pHost(new HostOptions { Identity = PrivateKey.Generate(), Listen = [new IPEndPoint(IPAddress.Loopback, 0)], AnnounceLoopback = true });
        var router = new P2PRouter(host, new Dht(host, new DhtOptions()), bootstrapper, NullLogger<P2PRouter>.Instance);
        await router.StartAsync(CancellationToken.None);
        return router;
    }
}
