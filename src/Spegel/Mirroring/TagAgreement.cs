using System.Net;
using System.Runtime.CompilerServices;
using Spegel.Oci;
using Spegel.Routing;

namespace Spegel.Mirroring;

/// <summary>
/// Which manifest a tag names, by agreement of independent peers (A2 of the security audit): a tag is served once
/// <c>required</c> peers that share no address answered the same bytes. Peers are independent by address, not by ID:
/// IDs are free to make, addresses are not (a provider record naming an address another record names adds nothing).
/// </summary>
internal sealed class TagAgreement(int required)
{
    private readonly Dictionary<Digest, int> _votes = [];

    /// <summary>More than one digest was answered (a tag that moved, or a peer that lies).</summary>
    public bool Disagreement => _votes.Count > 1;

    /// <summary>Answers counted so far.</summary>
    public int Answers { get; private set; }

    /// <summary>Counts one independent peer's answer; true when <paramref name="digest"/> is now confirmed.</summary>
    public bool Add(Digest digest)
    {
        Answers++;
        int votes = _votes.GetValueOrDefault(digest) + 1;
        _votes[digest] = votes;
        return votes >= required;
    }

    /// <summary>
    /// The peers of <paramref name="peers"/> independent of every peer before them: a peer whose ID or any address
    /// was already offered is skipped without being asked, so a flood of records from one address costs one request.
    /// </summary>
    public static async IAsyncEnumerable<RoutedPeer> Independent(IAsyncEnumerator<RoutedPeer> peers, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var addresses = new HashSet<IPAddress>();
        while (await peers.MoveNextAsync().ConfigureAwait(false))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var peer = peers.Current;
            var own = peer.Addresses.Select(a => a.IsIPv4MappedToIPv6 ? a.MapToIPv4() : a).ToList();
            if (own.Count == 0 || ids.Contains(peer.Id) || own.Any(addresses.Contains))
            {
                continue;
            }

            ids.Add(peer.Id);
            addresses.UnionWith(own);
            yield return peer;
        }
    }
}
