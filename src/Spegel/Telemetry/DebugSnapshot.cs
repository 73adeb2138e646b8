using Spegel.Advertising;
using Spegel.Mirroring;
using Spegel.Routing;

namespace Spegel.Telemetry;

/// <summary>What the debug page shows, gathered from the running parts.</summary>
internal sealed class DebugSources(P2PRouter? router, Advertiser? advertiser, MirrorStats stats, Hosting.NodeReadiness readiness, IReadOnlyList<Containerd.PreflightFinding>? preflight = null)
{
    /// <summary>What the start-up check found wrong with containerd's configuration.</summary>
    public IReadOnlyList<Containerd.PreflightFinding> Preflight => preflight ?? [];

    public P2PRouter? Router => router;

    public Advertiser? Advertiser => advertiser;

    public MirrorStats Stats => stats;

    public bool Ready => readiness.Ready;
}
