using Spegel.Mirroring;
using Spegel.Oci;
using Spegel.Registry;
using Spegel.Store;

namespace Spegel.Hosting;

/// <summary>The parts the registry API is made of.</summary>
internal sealed record RegistryServices(
    IContentStore Store,
    IReadiness Readiness,
    BasicAuth Auth,
    ContentPolicy Policy,
    PeerMirror? Mirror,
    MirrorStats Stats,
    Coalescing.PullCoalescer? Coalescer = null,
    PeerAuthenticator? PeerAuth = null,
    INodeAddresses? NodeAddresses = null,
    Telemetry.Refusals? Refusals = null);
