using System.Net;
using System.Net.Sockets;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Muxing;
using Spegel.Libp2p.Security;
using Spegel.Libp2p.Transport;

namespace Spegel.Libp2p.Tests.Bounds;

/// <summary>
/// A hostile peer on loopback: raw sockets from a chosen 127.0.0.x source address (Linux routes all of 127/8 to lo),
/// and authenticated connections with a fresh identity that speak yamux frames or streams by hand.
/// </summary>
internal static class Attacker
{
    /// <summary>A TCP connection to <paramref name="target"/> from <paramref name="source"/> (port chosen by the kernel).</summary>
    public static async Task<Socket> ConnectFromAsync(IPAddress source, IPEndPoint target, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.Bind(new IPEndPoint(source, 0));
            await socket.ConnectAsync(target, cancellationToken);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>An authenticated connection (fresh key, Noise, yamux inline): the secure stream, to write frames by hand.</summary>
    public static async Task<(TcpClient Socket, NoiseStream Secure, PrivateKey Key)> AuthenticateAsync(Libp2pHost target, CancellationToken cancellationToken)
    {
        var socket = new TcpClient();
        await socket.ConnectAsync(target.BoundEndPoints[0], cancellationToken);
        var network = socket.GetStream();
        Assert.True(await Multistream.SelectAsync(network, NoiseHandshake.ProtocolId, cancellationToken));
        var key = PrivateKey.Generate();
        var secure = await NoiseHandshake.InitiateAsync(network, key, target.Id, [Libp2pHost.YamuxProtocol], cancellationToken);
        return (socket, secure.Stream, key);
    }

    /// <summary>An authenticated connection with a yamux session of our own (client side), to open streams by hand.</summary>
    public static async Task<(TcpClient Socket, YamuxSession Session, PrivateKey Key)> SessionAsync(Libp2pHost target, CancellationToken cancellationToken)
    {
        var (socket, secure, key) = await AuthenticateAsync(target, cancellationToken);
        var session = new YamuxSession(secure, isClient: true);
        session.Start();
        return (socket, session, key);
    }

    /// <summary>Bytes the whole process allocated while <paramref name="run"/> ran (tests of this collection run alone).</summary>
    public static async Task<long> AllocatedAsync(Func<Task> run)
    {
        long before = GC.GetTotalAllocatedBytes(precise: true);
        await run();
        return GC.GetTotalAllocatedBytes(precise: true) - before;
    }
}
