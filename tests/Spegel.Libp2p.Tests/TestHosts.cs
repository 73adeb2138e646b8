using System.Net;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Transport;

namespace Spegel.Libp2p.Tests;

internal static class TestHosts
{
    public static async Task<Libp2pHost> StartAsync(HostOptions? options = null)
    {
        var host = new Libp2pHost(options ?? Options());
        await host.StartAsync(CancellationToken.None);
        return host;
    }

    /// <summary>
    /// A host on loopback. Every test peer connects from 127.0.0.1, so the per-address limits (made for one node per
    /// IP) are lifted here; the tests of those limits set their own.
    /// </summary>
    public static HostOptions Options(PrivateKey? key = null) => new()
    {
        Identity = key ?? PrivateKey.Generate(),
        Listen = [new IPEndPoint(IPAddress.Loopback, 0)],
        AnnounceLoopback = true,
        MaxConnectionsPerIp = 1024,
        MaxPendingHandshakesPerIp = 64,
    };

    public static Multiaddr AddressOf(Libp2pHost host) => host.Addresses[0].WithPeerId(host.Id);

    /// <summary>Far beyond anything a correct run needs, even on two busy cores: it only turns a hang into a failure.</summary>
    public static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(2);

    /// <summary>Waits until <paramref name="condition"/> holds; there is no time limit to meet, only <see cref="HangGuard"/>.</summary>
    public static Task WaitUntilAsync(Func<bool> condition) => WaitUntilAsync(() => Task.FromResult(condition()));

    /// <summary>
    /// Waits until the asynchronous <paramref name="condition"/> holds (a round trip to a js peer, say), awaiting each
    /// probe: a poll never blocks a pool thread.
    /// </summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        using var guard = new CancellationTokenSource(HangGuard);
        while (!await condition())
        {
            try
            {
                await Task.Delay(10, guard.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"hung: the condition never held (hang guard {HangGuard.TotalMinutes} min)");
            }
        }
    }
}
