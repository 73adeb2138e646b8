using Spegel.Libp2p.Primitives;

namespace Spegel.Routing.Bootstrap;

/// <summary>
/// Where the first peers are. Addresses may lack <c>/p2p/</c> (the peer ID is learned from the Noise handshake) and
/// may be bare IPs (dialed on our own router port, as Spegel does).
/// </summary>
internal interface IBootstrapper
{
    Task<IReadOnlyList<Multiaddr>> GetAsync(CancellationToken cancellationToken);
}
