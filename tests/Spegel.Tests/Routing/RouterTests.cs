using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Transport;
using Spegel.Routing;
using Spegel.Routing.Bootstrap;
using Spegel.Tests.Testing;

namespace Spegel.Tests.Routing;

/// <summary>The product's router over the real DHT, in process on loopback.</summary>
public sealed class RouterTests
{
    private static async Task<P2PRouter> StartRouterAsync(IBootstrapper bootstrapper, PrivateKey? key = null, int port = 0)
    {
        var host = new Libp2pHost(new HostOptions { Identity = key ?? PrivateKey.Generate(), Listen = [new IPEndPoint(IPAddress.Loopback, port)], AnnounceLoopback = true });
        var router = new P2PRouter(host, new Dht(host), bootstrapper, NullLogger<P2PRouter>.Instance);
        await router.StartAsync(CancellationToken.None);
        return router;
    }

    private static Task WaitAsync(Func<bool> condition) => Eventually.WaitAsync(condition, "the router condition");

    [Fact]
    public async Task ALoneNodeIsReadyAndAPeerFindsItsKeysWithItsIp()
    {
        await using var a = await StartRouterAsync(new StaticBootstrapper([]));
        await WaitAsync(() => a.Ready);
        await using var b = await StartRouterAsync(new StaticBootstrapper([a.Host.Addresses[0].WithPeerId(a.Host.Id)]));
        await WaitAsync(() => b.Ready && a.Dht.HasPeers);

        await a.AdvertiseAsync(["sha256:" + new string('1', 64), "docker.io/library/app:1"], CancellationToken.None);
        var peers = new List<RoutedPeer>();
        using var guard = new CancellationTokenSource(Eventually.HangGuard); // the lookup ends by itself
        await foreach (var peer in b.LookupAsync("docker.io/library/app:1", 3, guard.Token))
        {
            peers.Add(peer);
        }

        var found = Assert.Single(peers);
        Assert.Equal(a.Host.Id.ToString(), found.Id);
        Assert.Equal([IPAddress.Loopback], found.Addresses);

        await a.WithdrawAsync(["docker.io/library/app:1"], CancellationToken.None);
        Assert.False(a.Dht.Providers.IsLocal(Cid.ForKey("docker.io/library/app:1").Hash));
    }

    [Fact]
    public async Task AClaimWhosePublishingIsStoppedLeavesNoRecordToReprovide()
    {
        // The coalescer stops a claim's publishing when it follows others or the claim expires, and withdraws the key;
        // a publish still on its way must not add the record back after that, or it is reprovided for good.
        await using var a = await StartRouterAsync(new StaticBootstrapper([]));
        await WaitAsync(() => a.Ready);
        await using var b = await StartRouterAsync(new StaticBootstrapper([a.Host.Addresses[0].WithPeerId(a.Host.Id)]));
        await WaitAsync(() => b.Ready && a.Dht.HasPeers);
        const string key = "spegel-claim:sha256:" + "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1";
        var hash = Cid.ForKey(key).Hash;

        using var publishing = new CancellationTokenSource();
        var order = await a.ClaimAsync(key, publishing.Token);
        Assert.NotNull(order);
        Assert.Equal(a.Id, Assert.Single(order).Id);
        Assert.True(a.Dht.Providers.IsLocal(hash));

        // Stopped while the publish may still be running, or after it ended: either way the record goes.
        publishing.Cancel();
        Assert.False(a.Dht.Providers.IsLocal(hash));
        await WaitAsync(() => a.PublishingCount == 0);
        Assert.False(a.Dht.Providers.IsLocal(hash));

        // Published to the end before the stop: the stop removes it all the same.
        using var second = new CancellationTokenSource();
        Assert.NotNull(await a.ClaimAsync(key, second.Token));
        await WaitAsync(() => a.PublishingCount == 0);
        Assert.True(a.Dht.Providers.IsLocal(hash));
        second.Cancel();
        Assert.False(a.Dht.Providers.IsLocal(hash));
    }

    [Fact]
    public async Task BootstrapRetriesUntilThePeerComesUp()
    {
        var key = PrivateKey.Generate();
        int port = Spegel.Testbed.Network.FreePort(); // the late node is told this address before the seed listens on it
        var target = Multiaddr.Parse($"/ip4/127.0.0.1/tcp/{port}/p2p/{key.PeerId}");
        await using var late = await StartRouterAsync(new StaticBootstrapper([target]));
        await Task.Delay(500);
        Assert.False(late.Ready);
        await using var seed = await StartRouterAsync(new StaticBootstrapper([]), key, port);
        await WaitAsync(() => late.Ready);
    }

    [Fact]
    public async Task HttpBootstrapThroughTheIdEndpoint()
    {
        await using var a = await StartRouterAsync(new StaticBootstrapper([]));
        await using var server = await Spegel.Hosting.HttpBootstrapServer.StartAsync(new Spegel.Hosting.ListenAddress("127.0.0.1", 0), a.Host, IdShape.List, Microsoft.Extensions.Logging.LogLevel.Error, CancellationToken.None);
        int idPort = server.BoundPort();
        using var http = new HttpClient();
        string json = await http.GetStringAsync($"http://127.0.0.1:{idPort}/id");
        Assert.Equal($"[{{\"ID\":\"{a.Host.Id}\",\"Addrs\":[\"{a.Host.Addresses[0]}\"]}}]", json);

        using var bootstrapper = new HttpBootstrapper(new Uri($"http://127.0.0.1:{idPort}/id"), string.Empty);
        await using var b = await StartRouterAsync(bootstrapper);
        await WaitAsync(() => b.Ready && b.Dht.RoutingTable.Contains(a.Host.Id));
    }

    [Fact]
    public async Task DnsBootstrapThatFindsOnlyOurselvesRunsAlone()
    {
        var resolver = new DnsBootstrapper("spegel-bootstrap.spegel.svc.cluster.local.", (_, _) => Task.FromResult(new[] { IPAddress.Loopback }));
        await using var router = await StartRouterAsync(resolver);
        await WaitAsync(() => router.Ready);
        Assert.False(router.Dht.HasPeers);
    }

    [Fact]
    public async Task DnsBootstrapTakesTheFirstThreeOfEachFamilySorted()
    {
        var addresses = new[] { "10.0.0.9", "10.0.0.1", "10.0.0.5", "10.0.0.3", "fd77:77::2", "fd77:77::1", "fd77:77::9", "fd77:77::3" }.Select(IPAddress.Parse).ToArray();
        var bootstrapper = new DnsBootstrapper("x", (_, _) => Task.FromResult(addresses));
        var result = await bootstrapper.GetAsync(CancellationToken.None);
        Assert.Equal(["/ip4/10.0.0.1", "/ip4/10.0.0.3", "/ip4/10.0.0.5", "/ip6/fd77:77::1", "/ip6/fd77:77::2", "/ip6/fd77:77::3"], result.Select(a => a.ToString()));
    }

    [Fact]
    public void IdAnswersAreParsedLikeSpegel()
    {
        var id = PrivateKey.Generate().PeerId;
        var parsed = HttpBootstrapper.Parse([
            new BootstrapPeerInfo(id.ToString(), ["/ip4/10.0.0.5/tcp/5001", "/ip6/fd77:77::5/tcp/5001", "not a multiaddr"]),
            new BootstrapPeerInfo(null, ["/ip4/10.0.0.6/tcp/5001"]),
            new BootstrapPeerInfo("garbage", ["/ip4/10.0.0.7/tcp/5001"]),
        ]);
        Assert.Equal([$"/ip4/10.0.0.5/tcp/5001/p2p/{id}", $"/ip6/fd77:77::5/tcp/5001/p2p/{id}", "/ip4/10.0.0.6/tcp/5001"], parsed.Select(a => a.ToString()));
    }

    [Fact]
    public void StaticPeersNeedAPeerId()
    {
        var errors = new List<string>();
        var id = PrivateKey.Generate().PeerId;
        var parsed = StaticBootstrapper.Parse([$"/ip4/10.0.0.5/tcp/5001/p2p/{id}", "/ip4/10.0.0.6/tcp/5001", "10.0.0.7:5001", $"/p2p/{id}"], errors);
        Assert.Equal(2, parsed.Count);
        Assert.Equal(2, errors.Count);
        Assert.Contains(errors, e => e.Contains("has no /p2p/", StringComparison.Ordinal));
    }

    [Fact]
    public void ProvidersWithNonIpAddressesAreSkippedLikeSpegel()
    {
        var id = PrivateKey.Generate().PeerId;
        Assert.Null(P2PRouter.ToRegistryAddresses(new PeerInfo(id, [Multiaddr.Parse("/ip4/10.0.0.5/tcp/5001"), Multiaddr.Parse("/dns4/x/tcp/5001")])));
        Assert.Equal([IPAddress.Parse("10.0.0.5"), IPAddress.Parse("fd77:77::5")], P2PRouter.ToRegistryAddresses(new PeerInfo(id, [Multiaddr.Parse("/ip4/10.0.0.5/tcp/5001"), Multiaddr.Parse("/ip4/10.0.0.5/udp/5001/quic-v1"), Multiaddr.Parse("/ip6/fd77:77::5/tcp/5001")])));
    }
}
