using Spegel.Advertising;
using Spegel.Registry;
using Spegel.Routing;

namespace Spegel.Hosting;

/// <summary>
/// <c>/healthz</c>: the router is ready (a peer, or alone by configuration) and content tracking is connected to
/// containerd (SPEC §4: not ready while disconnected).
/// </summary>
internal sealed class NodeReadiness(IRouter router, Advertiser? advertiser) : IReadiness
{
    public bool Ready => router.Ready && (advertiser?.Connected ?? true);
}
