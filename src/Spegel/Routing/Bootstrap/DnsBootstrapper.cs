using System.Net;
using System.Net.Sockets;
using Spegel.Libp2p.Primitives;

namespace Spegel.Routing.Bootstrap;

/// <summary>
/// <c>--bootstrap-kind=dns</c>: resolves the (headless Service) domain, sorts each family's addresses and takes the
/// first three of each, as Spegel does; peers are dialed on our router port with an unknown peer ID.
/// </summary>
internal sealed class DnsBootstrapper(string domain, Func<string, CancellationToken, Task<IPAddress[]>>? resolve = null) : IBootstrapper
{
    private readonly Func<string, CancellationToken, Task<IPAddress[]>> _resolve = resolve ?? ((host, ct) => Dns.GetHostAddressesAsync(host, ct));

    public async Task<IReadOnlyList<Multiaddr>> GetAsync(CancellationToken cancellationToken)
    {
        var addresses = await _resolve(domain, cancellationToken).ConfigureAwait(false);
        IEnumerable<IPAddress> FirstThree(AddressFamily family) =>
            addresses.Where(a => a.AddressFamily == family).OrderBy(a => a.GetAddressBytes(), ByteOrder.Instance).Take(3);
        return FirstThree(AddressFamily.InterNetwork).Concat(FirstThree(AddressFamily.InterNetworkV6))
            .Select(ip => Multiaddr.Create([new MultiaddrComponent(ip.AddressFamily == AddressFamily.InterNetwork ? MultiaddrProtocol.Ip4 : MultiaddrProtocol.Ip6, ip.GetAddressBytes())]))
            .ToList();
    }

    private sealed class ByteOrder : IComparer<byte[]>
    {
        public static readonly ByteOrder Instance = new();

        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
