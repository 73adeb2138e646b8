using System.Net;
using Spegel.Coalescing;
using Spegel.Mirroring;
using Spegel.Oci;
using Spegel.Store;

namespace Spegel.Registry;

/// <summary>What the steps after the local store found for a request (<see cref="MissChain"/>).</summary>
internal abstract record Miss
{
    /// <summary>Nobody has it. <paramref name="PeersAsked"/>: the peers were asked (a mirror "miss" in Spegel's metric).</summary>
    public sealed record NotFound(string Why, bool PeersAsked) : Miss;

    /// <summary>A blob this node is downloading, for a peer that follows the download (pull coalescing).</summary>
    public sealed record InProgress(BlobReader Reader) : Miss;

    /// <summary>A peer's answer, to write (and for a blob, to relay).</summary>
    public sealed record FromPeers(PeerFetch Fetch) : Miss;

    /// <summary>Not looked up: the client is over its lookup rate, or the node at its bound (<see cref="LookupCache.Admit"/>).</summary>
    public sealed record Refused(LookupAdmission Reason) : Miss;
}

/// <summary>
/// A request the local store could not answer, step by step. Each step returns what it found; none writes the response
/// (<see cref="RegistryHandler"/> does):
/// <list type="number">
/// <item>a peer asking (<c>X-Spegel-Mirrored</c>, with a valid proof whenever the node has a peer key) for a blob this
/// node downloads for the cluster: the download in progress (<see cref="PullCoalescer.OpenInProgressAsync"/>);</item>
/// <item>any other request from a peer: not found (a peer's request is never forwarded again: loop prevention);</item>
/// <item>a reference the policy keeps from mirroring: not found;</item>
/// <item>a client over its lookup rate, or the node at its bound of lookups: refused (the registry answers 503, and
/// containerd asks the next host);</item>
/// <item>the peers that hold it (<see cref="PeerMirror"/>: lookup, hedging, digest checks, resume);</item>
/// <item>a whole blob nobody holds: the node downloading it for the cluster, asked through the same mirror
/// (<see cref="PullCoalescer.FindLeadersAsync"/>); when this node leads, not found, and its containerd downloads the
/// blob from the upstream. Only this node's containerd may make it lead (claim the download): any other client can
/// follow a claim but not publish one.</item>
/// </list>
/// </summary>
internal sealed class MissChain(PeerMirror? mirror, PullCoalescer? coalescer, ContentPolicy policy)
{
    public async Task<Miss> ResolveAsync(DistributionRequest request, RegistryRequest client, CancellationToken cancellationToken)
    {
        bool blob = request is { Kind: DistributionKind.Blob, Digest: not null };
        if (client.FromPeer)
        {
            if (blob && client.PeerVerified && coalescer is not null && await coalescer.OpenInProgressAsync(request.Digest!.Value, cancellationToken).ConfigureAwait(false) is { } inProgress)
            {
                return new Miss.InProgress(inProgress);
            }

            return new Miss.NotFound("is not on this node", PeersAsked: false);
        }

        if (mirror is null || !policy.AllowsMirroring(request))
        {
            return new Miss.NotFound("is not on this node", PeersAsked: false);
        }

        var peerRequest = new PeerRequest(request, client.Head, client.Range, client.Accept);
        if (mirror.Admit(client.Address, peerRequest) is var admission and not LookupAdmission.Admitted)
        {
            return new Miss.Refused(admission);
        }

        if (await mirror.FetchAsync(peerRequest, null, cancellationToken).ConfigureAwait(false) is { } fetch)
        {
            return new Miss.FromPeers(fetch);
        }

        if (blob && peerRequest.IsBlobStream && string.IsNullOrEmpty(client.Range) && coalescer is not null)
        {
            var leaders = await coalescer.FindLeadersAsync(request.Digest!.Value, mayClaim: client.FromThisNode, cancellationToken).ConfigureAwait(false);
            if (leaders.Count > 0 && await mirror.FetchAsync(peerRequest, leaders.ToAsyncEnumerable(), cancellationToken).ConfigureAwait(false) is { } followed)
            {
                return new Miss.FromPeers(followed);
            }
        }

        return new Miss.NotFound("is not on this node, and no peer could serve it", PeersAsked: true);
    }
}

/// <summary>What of the client's request matters to the miss steps (the registry reads it off the HTTP request).</summary>
/// <param name="FromPeer">Answered as a peer's request: from this node only, never forwarded (<c>X-Spegel-Mirrored</c>,
/// which with a swarm key counts only with a valid proof).</param>
/// <param name="Address">The client's address: lookups are rate-limited per client.</param>
internal sealed record RegistryRequest(bool FromPeer, bool Head, string? Range, IReadOnlyList<string> Accept, IPAddress? Address = null)
{
    /// <summary>
    /// The peer proved it holds this node's peer key, or the node has none to prove it with: it may follow a download
    /// in progress here.
    /// </summary>
    public bool PeerVerified { get; init; }

    /// <summary>The client is this node's containerd (loopback or one of the node's addresses): it may claim downloads.</summary>
    public bool FromThisNode { get; init; }
}
