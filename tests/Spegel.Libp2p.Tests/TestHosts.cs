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

    public static HostOptions Options(PrivateKey? key = null) => new()
    {
        Identity = key ?? PrivateKey.Generate(),
        Listen = [new IPEndPoint(IPAddress.Loopback, 0)],
        AnnounceLoopback = true,
    };

    public static Multiaddr AddressOf(Libp2pHost host) => host.Addresses[0].WithPeerId(host.Id);

    public static async Task WaitUntilAsync(Func<bool> condition, int seconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await Task.Delay(10);
        }
    }
}
