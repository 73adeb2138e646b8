using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protocols;
using Spegel.Libp2p.Security;
using Spegel.Libp2p.Transport;

namespace Spegel.Libp2p.Tests.Transport;

public sealed class HostTests
{
    [Fact]
    public async Task TwoHostsConnectIdentifyAndPing()
    {
        await using var a = await TestHosts.StartAsync();
        await using var b = await TestHosts.StartAsync();
        var connection = await a.ConnectAsync(TestHosts.AddressOf(b), CancellationToken.None);
        Assert.Equal(b.Id, connection.RemotePeer);
        await TestHosts.WaitUntilAsync(() => a.Peers.Supports(b.Id, PingService.ProtocolId) && b.Peers.Supports(a.Id, PingService.ProtocolId));
        Assert.Contains(IdentifyService.ProtocolId, a.Peers.GetProtocols(b.Id));
        Assert.Equal(b.Addresses, a.Peers.GetAddresses(b.Id));
        await PingService.PingAsync(a, b.Id, CancellationToken.None); // answered: how fast is the machine's business

        // The connection is reused, in both directions.
        Assert.Same(connection, await a.ConnectAsync(b.Id, CancellationToken.None));
        await PingService.PingAsync(b, a.Id, CancellationToken.None);
        Assert.Equal(1, a.ConnectionCount);
        Assert.Equal(1, b.ConnectionCount);
    }

    [Fact]
    public async Task DialingWithoutAPeerIdLearnsItFromNoise()
    {
        await using var a = await TestHosts.StartAsync();
        await using var b = await TestHosts.StartAsync();
        var connection = await a.ConnectAsync(b.Addresses[0], CancellationToken.None);
        Assert.Equal(b.Id, connection.RemotePeer);
    }

    [Fact]
    public async Task DialingTheWrongPeerIdFailsWithTheActualOne()
    {
        await using var a = await TestHosts.StartAsync();
        await using var b = await TestHosts.StartAsync();
        var other = Spegel.Libp2p.Crypto.PrivateKey.Generate().PeerId;
        var ex = await Assert.ThrowsAsync<PeerIdMismatchException>(() => a.ConnectAsync(b.Addresses[0].WithPeerId(other), CancellationToken.None));
        Assert.Equal(b.Id, ex.Actual);
        Assert.Equal(other, ex.Expected);
    }

    [Fact]
    public async Task ConcurrentDialsShareOneConnection()
    {
        await using var a = await TestHosts.StartAsync();
        await using var b = await TestHosts.StartAsync();
        a.Peers.AddAddresses(b.Id, b.Addresses, TimeSpan.FromMinutes(5));
        var connections = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => a.ConnectAsync(b.Id, CancellationToken.None)));
        Assert.All(connections, c => Assert.Same(connections[0], c));
        Assert.Equal(1, a.ConnectionCount);
    }

    [Fact]
    public async Task UnknownProtocolsAreRefused()
    {
        await using var a = await TestHosts.StartAsync();
        await using var b = await TestHosts.StartAsync();
        await a.ConnectAsync(TestHosts.AddressOf(b), CancellationToken.None);
        await Assert.ThrowsAsync<NotSupportedException>(() => a.NewStreamAsync(b.Id, "/no/such/1.0.0", CancellationToken.None));
        await PingService.PingAsync(a, b.Id, CancellationToken.None);
    }

    [Fact]
    public async Task ADisconnectIsNoticedAndTheNextStreamRedials()
    {
        // b comes back on the same port, so that port is chosen below the ephemeral range: a port from bind(0) could be
        // taken by any outgoing connection on the machine between b's stop and its restart.
        await using var a = await TestHosts.StartAsync();
        var b = await TestHosts.StartAsync(TestHosts.Options() with { Listen = [new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, Spegel.Testbed.Network.FreePort())] });
        var key = b.Options.Identity;
        await a.ConnectAsync(TestHosts.AddressOf(b), CancellationToken.None);
        var disconnected = new TaskCompletionSource();
        a.PeerDisconnected += peer => disconnected.TrySetResult();
        var port = b.BoundEndPoints[0].Port;
        await b.DisposeAsync();
        await disconnected.Task.WaitAsync(TestHosts.HangGuard);
        Assert.Null(a.GetConnection(b.Id));

        await using var again = await TestHosts.StartAsync(TestHosts.Options(key) with { Listen = [new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port)] });
        await PingService.PingAsync(a, again.Id, CancellationToken.None);
    }
}
