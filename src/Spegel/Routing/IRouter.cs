using System.Net;

namespace Spegel.Routing;

/// <summary>A peer that holds a key: its ID and the IP addresses its registry is reached on (our registry port).</summary>
internal sealed record RoutedPeer(string Id, IReadOnlyList<IPAddress> Addresses);

/// <summary>
/// Finds which peers hold a key and tells peers what we hold. The libp2p Kademlia DHT is the real implementation;
/// tests and single-node runs use simpler ones.
/// </summary>
internal interface IRouter
{
    /// <summary>This node's peer ID (the same string <see cref="RoutedPeer.Id"/> has on other nodes).</summary>
    string Id { get; }

    /// <summary>SPEC §6: at least one peer known, or we are alone by configuration.</summary>
    bool Ready { get; }

    /// <summary>Announces that this node holds <paramref name="keys"/>.</summary>
    Task AdvertiseAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken);

    /// <summary>
    /// Announces <paramref name="keys"/> where it matters within milliseconds (a pull claim rivals must see before they
    /// decide): returns once the nearest peers this node knows have been told; the ordinary announcement follows in the
    /// background. By default the same as <see cref="AdvertiseAsync"/>.
    /// </summary>
    Task AdvertiseNowAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken) => AdvertiseAsync(keys, cancellationToken);

    /// <summary>
    /// Claims <paramref name="key"/> unless it is claimed already. Nodes that claimed it are found first (a lookup):
    /// then they are returned, and this node is not among them (nothing claimed). Otherwise the claim is made at one
    /// arbiter every claimant asks (the peer nearest the key) and the claimants there are returned in the order their
    /// claims arrived, this node included: the first listed was first, as every claimant sees it. A claim made is then
    /// announced like <see cref="AdvertiseNowAsync"/>, in the background, until <paramref name="cancellationToken"/>
    /// fires; then the claim's local record goes (as <see cref="WithdrawAsync"/>), however late the announcement was.
    /// Null when there is no arbiter to ask (the caller falls back to announcing and waiting); by default always null.
    /// </summary>
    Task<IReadOnlyList<RoutedPeer>?> ClaimAsync(string key, CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<RoutedPeer>?>(null);

    /// <summary>Stops announcing <paramref name="keys"/> (remote records expire on their own).</summary>
    Task WithdrawAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken);

    /// <summary>Peers that hold <paramref name="key"/>, as they are found; <paramref name="count"/> 0 means all.</summary>
    IAsyncEnumerable<RoutedPeer> LookupAsync(string key, int count, CancellationToken cancellationToken);
}
