using Spegel.Routing;

namespace Spegel.Mirroring;

/// <summary>What peers had for a request (<see cref="PeerMirror.FetchAsync"/>); null there means none had it.</summary>
internal abstract record PeerFetch(RoutedPeer Peer, PeerHeaders Headers)
{
    /// <summary>How the request log names where the answer came from.</summary>
    public string Source => $"peer {PeerDialer.Preferred(Peer.Addresses)}";

    /// <summary>
    /// An answer checked completely before a byte is sent: a HEAD (headers only, <paramref name="Body"/> null), a
    /// manifest matching its digest, or a 416 passed on.
    /// </summary>
    public sealed record Whole(RoutedPeer Peer, PeerHeaders Headers, byte[]? Body) : PeerFetch(Peer, Headers);

    /// <summary>A blob to stream: the caller writes <see cref="PeerFetch.Headers"/>, then drives the relay.</summary>
    public sealed record Stream(VerifiedBlobRelay Relay) : PeerFetch(Relay.FirstPeer, Relay.Headers);
}
