using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Pnet;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protocols;
using Spegel.Libp2p.Tests.Kademlia;
using Spegel.Libp2p.Transport;

namespace Spegel.Libp2p.Tests.Interop;

/// <summary>
/// Our private network against js-libp2p's <c>@libp2p/pnet</c> 3.0.27 (the wire of libp2p specs
/// pnet/Private-Networks-PSK-V1.md): with the same swarm key file both sides connect and find each other's providers;
/// with another key, or a key on one side only, no connection is made in either direction, and our node keeps
/// admitting members.
/// </summary>
public sealed class PnetInteropTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("spegel-pnet-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task SameKeyWeDialJsAndEachFindsTheOthersProviders()
    {
        var key = SwarmKey.Generate();
        await using var js = await JsPeer.StartAsync(swarmKeyFile: Write(key, "swarm.key"));
        var (host, dht) = await StartNodeAsync(key);
        await using var _ = host;
        await using var __ = dht;

        await dht.BootstrapAsync([js.Address], CancellationToken.None);
        Assert.True(dht.RoutingTable.Contains(js.Id));
        await PingService.PingAsync(host, js.Id, CancellationToken.None);
        await TestHosts.WaitUntilAsync(async () => await RoutingTableSize(js) > 0);

        const string ours = "sha256:3caa2469de2a23cbcc209dd0b9d01cd78ff9a0f88741655991d36baede5b0996";
        await dht.ProvideAsync([Cid.ForKey(ours).Hash], CancellationToken.None);
        var found = await js.CallAsync("find", new { key = ours, timeoutMs = 15000 });
        Assert.Equal(host.Id.ToString(), Assert.Single(found["providers"]!.AsArray())!["id"]!.GetValue<string>());

        const string theirs = "docker.io/library/nginx:1.27";
        await js.CallAsync("provide", new { key = theirs });
        await TestHosts.WaitUntilAsync(() => dht.Providers.Get(Cid.ForKey(theirs).Hash).Contains(js.Id));
        Assert.Equal(js.Id, Assert.Single(await DhtNetwork.FindAsync(dht, Cid.ForKey(theirs).Hash)).Id);
    }

    [Fact]
    public async Task SameKeyJsDialsUsAndPings()
    {
        var key = SwarmKey.Generate();
        var (host, dht) = await StartNodeAsync(key);
        await using var _ = host;
        await using var __ = dht;

        // js-libp2p writes its files without a final newline and reads ours with one: each reads the other's.
        string file = Path.Combine(_folder, "js-written.key");
        await File.WriteAllTextAsync(file, $"/key/swarm/psk/1.0.0/\n/base16/\n{Convert.ToHexStringLower(key.Bytes)}");
        await using var js = await JsPeer.StartAsync(swarmKeyFile: file);
        Assert.Equal(key.Bytes.ToArray(), SwarmKey.Load(file).Bytes.ToArray());

        var dialed = await js.CallAsync("dial", new { addr = TestHosts.AddressOf(host).ToString() });
        Assert.Equal(host.Id.ToString(), dialed["peer"]!.GetValue<string>());
        var ping = await js.CallAsync("ping", new { peer = host.Id.ToString() });
        Assert.True(ping["rtt"]!.GetValue<double>() >= 0);
        await TestHosts.WaitUntilAsync(() => dht.RoutingTable.Contains(js.Id));
    }

    [Fact]
    public async Task AnotherKeyOrAKeyOnOneSideCannotConnectEitherWay()
    {
        var key = SwarmKey.Generate();
        var (host, dht) = await StartNodeAsync(key);
        await using var _ = host;
        await using var __ = dht;
        var (open, openDht) = await StartNodeAsync(null);
        await using var ___ = open;
        await using var ____ = openDht;
        await using var stranger = await JsPeer.StartAsync(swarmKeyFile: Write(SwarmKey.Generate(), "other.key"));
        await using var publicJs = await JsPeer.StartAsync();
        await using var member = await JsPeer.StartAsync(swarmKeyFile: Write(key, "swarm.key"));

        // js with another key, and js without a key, dial our keyed node: refused.
        foreach (var js in new[] { stranger, publicJs })
        {
            var error = await Assert.ThrowsAsync<InvalidOperationException>(() => js.CallAsync("dial", new { addr = TestHosts.AddressOf(host).ToString() }));
            Assert.Contains("js dial failed", error.Message, StringComparison.Ordinal);
        }

        // Our keyed node dials js with another key and js without one; our open node dials a keyed js: refused.
        await Assert.ThrowsAnyAsync<Exception>(() => host.ConnectAsync(stranger.Address, CancellationToken.None));
        await Assert.ThrowsAnyAsync<Exception>(() => host.ConnectAsync(publicJs.Address, CancellationToken.None));
        await Assert.ThrowsAnyAsync<Exception>(() => open.ConnectAsync(member.Address, CancellationToken.None));
        Assert.Empty(host.ConnectedPeers);
        Assert.Empty(open.ConnectedPeers);

        // Our node keeps serving: the member with the same key connects, in both directions.
        var dialed = await member.CallAsync("dial", new { addr = TestHosts.AddressOf(host).ToString() });
        Assert.Equal(host.Id.ToString(), dialed["peer"]!.GetValue<string>());
        await member.CallAsync("ping", new { peer = host.Id.ToString() });
        await host.DisconnectAsync(member.Id);
        await host.ConnectAsync(member.Address, CancellationToken.None);
        await PingService.PingAsync(host, member.Id, CancellationToken.None);
        Assert.Equal([member.Id], host.ConnectedPeers);
    }

    private string Write(SwarmKey key, string name)
    {
        string path = Path.Combine(_folder, name);
        File.WriteAllText(path, key.ToFileText());
        return path;
    }

    private static async Task<(Libp2pHost Host, Dht Dht)> StartNodeAsync(SwarmKey? key)
    {
        var host = await TestHosts.StartAsync(TestHosts.Options() with { PrivateNetwork = key });
        var dht = new Dht(host, new DhtOptions { RequestTimeout = TimeSpan.FromSeconds(5) });
        dht.Start();
        return (host, dht);
    }

    private static async Task<int> RoutingTableSize(JsPeer js) => (await js.CallAsync("routingTable"))["size"]!.GetValue<int>();
}
