using Spegel.Advertising;
using Spegel.Containerd;
using Spegel.Mirroring;
using Spegel.Registry;
using Spegel.Routing;

namespace Spegel.Hosting;

/// <summary>What the debug page shows, gathered from the running parts.</summary>
internal sealed class DebugSources(P2PRouter? router, Advertiser? advertiser, MirrorStats stats, IReadiness readiness, IReadOnlyList<PreflightFinding>? preflight = null)
{
    /// <summary>What the start-up check found wrong with containerd's configuration.</summary>
    public IReadOnlyList<PreflightFinding> Preflight => preflight ?? [];

    /// <summary>The router's view now (null without a router); the page never reaches into the libp2p host or the DHT.</summary>
    public RouterSnapshot? Router => router?.Snapshot();

    public Advertiser? Advertiser => advertiser;

    public MirrorStats Stats => stats;

    public bool Ready => readiness.Ready;
}
