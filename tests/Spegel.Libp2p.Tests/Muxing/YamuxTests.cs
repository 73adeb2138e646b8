using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Time.Testing;
using Spegel.Libp2p.Muxing;

namespace Spegel.Libp2p.Tests.Muxing;

public sealed class YamuxTests
{
    private static async Task<(YamuxSession Client, YamuxSession Server)> PairAsync(YamuxOptions? options = null, TimeProvider? time = null)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var client = new TcpClient();
        await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        var server = await listener.AcceptTcpClientAsync();
        var a = new YamuxSession(client.GetStream(), isClient: true, options, time);
        var b = new YamuxSession(server.GetStream(), isClient: false, options, time);
        a.Start();
        b.Start();
        return (a, b);
    }

    [Fact]
    public async Task StreamsCarryDataBothWaysWithHalfClose()
    {
        var (a, b) = await PairAsync();
        await using var _ = a;
        await using var __ = b;
        var outbound = await a.OpenStreamAsync(CancellationToken.None);
        Assert.Equal(1u, outbound.Id);
        var inbound = await b.Incoming.ReadAsync();
        byte[] data = RandomNumberGenerator.GetBytes(3 * 1024 * 1024);
        var send = Task.Run(async () =>
        {
            await outbound.WriteAsync(data);
            await outbound.CloseWriteAsync();
        });
        var received = new MemoryStream();
        await inbound.CopyToAsync(received);
        await send;
        Assert.Equal(data, received.ToArray());

        // The other direction still works after our half-close.
        await inbound.WriteAsync("pong"u8.ToArray());
        await inbound.CloseWriteAsync();
        var reply = new MemoryStream();
        await outbound.CopyToAsync(reply);
        Assert.Equal("pong"u8.ToArray(), reply.ToArray());
        await TestHosts.WaitUntilAsync(() => a.StreamCount == 0 && b.StreamCount == 0);
    }

    [Fact]
    public async Task AWriterWaitsForWindowWhileTheReaderDoesNotRead()
    {
        var (a, b) = await PairAsync(new YamuxOptions { ReceiveWindow = YamuxOptions.InitialWindow });
        await using var _ = a;
        await using var __ = b;
        var outbound = await a.OpenStreamAsync(CancellationToken.None);
        var inbound = await b.Incoming.ReadAsync();
        var write = outbound.WriteAsync(new byte[YamuxOptions.InitialWindow + 1000]).AsTask();
        await Task.Delay(300);
        Assert.False(write.IsCompleted, "the writer went past the receiver's window");
        byte[] buffer = new byte[64 * 1024];
        long total = 0;
        while (total < YamuxOptions.InitialWindow + 1000)
        {
            total += await inbound.ReadAsync(buffer);
        }

        await write.WaitAsync(TestHosts.HangGuard);
    }

    [Fact]
    public async Task ResetReachesTheOtherSide()
    {
        var (a, b) = await PairAsync();
        await using var _ = a;
        await using var __ = b;
        var outbound = await a.OpenStreamAsync(CancellationToken.None);
        var inbound = await b.Incoming.ReadAsync();
        await outbound.ResetAsync();
        await Assert.ThrowsAsync<YamuxStreamResetException>(async () => await inbound.ReadExactlyAsync(new byte[10]));
        await Assert.ThrowsAsync<YamuxStreamResetException>(async () => await outbound.WriteAsync(new byte[10]));
    }

    [Fact]
    public async Task PingRoundTrips()
    {
        var (a, b) = await PairAsync();
        await using var _ = a;
        await using var __ = b;
        // Each side's ping is answered (the round-trip time says how busy the machine is, not whether yamux works).
        Assert.True(await a.PingAsync(CancellationToken.None) >= TimeSpan.Zero);
        Assert.True(await b.PingAsync(CancellationToken.None) >= TimeSpan.Zero);
    }

    [Fact]
    public async Task TooManyInboundStreamsAreRefused()
    {
        var (a, b) = await PairAsync(new YamuxOptions { MaxInboundStreams = 2 });
        await using var _ = a;
        await using var __ = b;
        var first = await a.OpenStreamAsync(CancellationToken.None);
        var second = await a.OpenStreamAsync(CancellationToken.None);
        var third = await a.OpenStreamAsync(CancellationToken.None);
        await Assert.ThrowsAsync<YamuxStreamResetException>(async () => await third.ReadExactlyAsync(new byte[1]));
        await first.WriteAsync(new byte[] { 1 });
        var accepted = await b.Incoming.ReadAsync();
        Assert.Equal(1, await ReadOneAsync(accepted));
        Assert.Equal(2u + 1, second.Id);
    }

    [Fact]
    public async Task ADeadPeerIsDetectedByKeepAlive()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        using var client = new TcpClient();
        await client.ConnectAsync((IPEndPoint)listener.LocalEndpoint);
        using var silent = await listener.AcceptTcpClientAsync(); // never answers pings
        await using var session = new YamuxSession(client.GetStream(), isClient: true, new YamuxOptions(), time);
        session.Start();

        // Advance until the keep-alive ping reaches the silent side (the session then waits for the answer), then
        // past the keep-alive timeout.
        byte[] ping = new byte[12];
        var received = silent.GetStream().ReadExactlyAsync(ping).AsTask();
        while (!received.IsCompleted)
        {
            time.Advance(TimeSpan.FromSeconds(31));
            await Task.WhenAny(received, Task.Delay(50));
        }

        Assert.Equal(2, ping[1]); // a yamux Ping
        time.Advance(TimeSpan.FromSeconds(16));
        await TestHosts.WaitUntilAsync(() => session.IsClosed);
        Assert.IsType<TimeoutException>(session.CloseReason);
    }

    [Fact]
    public async Task ClosingTheSessionResetsItsStreams()
    {
        var (a, b) = await PairAsync();
        await using var _ = b;
        var outbound = await a.OpenStreamAsync(CancellationToken.None);
        var inbound = await b.Incoming.ReadAsync();
        await a.DisposeAsync();
        await TestHosts.WaitUntilAsync(() => b.IsClosed);
        await Assert.ThrowsAnyAsync<IOException>(async () => await inbound.ReadExactlyAsync(new byte[1]));
        await Assert.ThrowsAnyAsync<IOException>(async () => await outbound.WriteAsync(new byte[1]));
    }

    private static async Task<int> ReadOneAsync(Stream stream)
    {
        byte[] one = new byte[1];
        await stream.ReadExactlyAsync(one);
        return one[0];
    }
}
