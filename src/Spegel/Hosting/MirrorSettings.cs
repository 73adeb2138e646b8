using System.Net;
using Spegel.Mirroring;

namespace Spegel.Hosting;

internal static class MirrorSettings
{
    public static MirrorOptions From(RegistrySettings settings, string? authorization) => new()
    {
        RegistryPort = settings.RegistryAddr.Port,
        ResolveTimeout = settings.MirrorResolveTimeout,
        ResolveRetries = settings.MirrorResolveRetries,
        ConnectTimeout = settings.MirrorConnectTimeout,
        MinDataRate = settings.MirrorMinDataRate,
        RateGracePeriod = settings.MirrorRateGracePeriod,
        HedgeDelay = settings.MirrorHedgeDelay,
        Authorization = authorization,
    };
}

/// <summary>
/// The HTTP client for peers: short connects (peers are on the local network) over every address of the peer
/// (<see cref="PeerDialer"/>), no proxy, no redirects.
/// </summary>
internal static class PeerHttp
{
    public static HttpClient Create(TimeSpan connectTimeout, TimeProvider? time = null) => new(new SocketsHttpHandler
    {
        ConnectTimeout = connectTimeout,
        ConnectCallback = new PeerDialer(time ?? TimeProvider.System).ConnectAsync,
        UseProxy = false,
        AllowAutoRedirect = false,
        AutomaticDecompression = DecompressionMethods.None,
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90),
        UseCookies = false,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };
}
