using System.Net;
using Spegel.Mirroring;
using Spegel.Oci;
using Spegel.Registry;

namespace Spegel.Hosting;

internal static class MirrorSettings
{
    /// <summary>
    /// The key this node signs its peer requests with and checks its peers' with: from the swarm key when there is one,
    /// else from the Basic-auth credentials (every node has them; a proof reveals neither), else none.
    /// </summary>
    public static PeerKey? PeerKey(RegistrySettings settings, BasicAuth auth) =>
        settings.SwarmKey is { } swarmKey ? Oci.PeerKey.FromSwarmKey(swarmKey)
        : auth.HeaderValue is { } basic ? Oci.PeerKey.FromBasicAuth(basic)
        : null;

    public static MirrorOptions From(RegistrySettings settings, PeerKey? peerKey) => new()
    {
        RegistryPort = settings.RegistryAddr.Port,
        ResolveTimeout = settings.MirrorResolveTimeout,
        ResolveRetries = settings.MirrorResolveRetries,
        ConnectTimeout = settings.MirrorConnectTimeout,
        MinDataRate = settings.MirrorMinDataRate,
        RateGracePeriod = settings.MirrorRateGracePeriod,
        HedgeDelay = settings.MirrorHedgeDelay,
        PeerKey = peerKey,
        // Admitted members (a swarm key) are trusted for tags; where anyone may join, two independent peers must agree.
        TagConfirmations = settings.SwarmKey is null ? 2 : 1,
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
