using Spegel.Libp2p.Protocols;

namespace Spegel.Libp2p.Tests.Interop;

/// <summary>Our transport stack against js-libp2p 3.x: Noise, inline yamux negotiation, identify, ping.</summary>
public sealed class TransportInteropTests
{
    [Fact]
    public async Task WeDialJsIdentifyAndPing()
    {
        await using var js = await JsPeer.StartAsync();
        await using var host = await TestHosts.StartAsync();
        var connection = await host.ConnectAsync(js.Address, CancellationToken.None);
        Assert.Equal(js.Id, connection.RemotePeer);
        await TestHosts.WaitUntilAsync(() => host.Peers.Supports(js.Id, "/spegel/kad/1.0.0"));
        await PingService.PingAsync(host, js.Id, CancellationToken.None);

        // js identified us too: it knows our protocols and our (loopback, for tests) address.
        var stored = await js.CallAsync("peerProtocols", new { peer = host.Id.ToString() });
        Assert.Contains("/ipfs/ping/1.0.0", stored["protocols"]!.AsArray().Select(p => p!.GetValue<string>()));
        Assert.Contains(host.Addresses[0].ToString(), stored["addrs"]!.AsArray().Select(p => p!.GetValue<string>()));
    }

    [Fact]
    public async Task JsDialsUsAndPings()
    {
        await using var js = await JsPeer.StartAsync();
        await using var host = await TestHosts.StartAsync();
        var dialed = await js.CallAsync("dial", new { addr = TestHosts.AddressOf(host).ToString() });
        Assert.Equal(host.Id.ToString(), dialed["peer"]!.GetValue<string>());
        var ping = await js.CallAsync("ping", new { peer = host.Id.ToString() });
        Assert.True(ping["rtt"]!.GetValue<double>() >= 0);
        await TestHosts.WaitUntilAsync(() => host.Peers.Supports(js.Id, "/ipfs/id/1.0.0"));
    }

    [Fact]
    public async Task JsDialsUsWithoutKnowingOurPeerId()
    {
        await using var js = await JsPeer.StartAsync();
        await using var host = await TestHosts.StartAsync();
        var dialed = await js.CallAsync("dial", new { addr = host.Addresses[0].ToString() });
        Assert.Equal(host.Id.ToString(), dialed["peer"]!.GetValue<string>());
    }
}
