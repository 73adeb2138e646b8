namespace Spegel.Oci;

/// <summary>
/// What nodes say to each other on top of the distribution API: the one place for these names (the registry reads
/// them, the mirror sends them, the request log and the test fakes use them).
/// </summary>
internal static class PeerProtocol
{
    /// <summary>
    /// On a request: it comes from another node's mirror, so it is answered from this node only, never forwarded
    /// again (loop prevention, as Spegel). Alone it proves nothing (any client can send it): with a swarm key it counts
    /// only together with a valid <see cref="ProofHeader"/>.
    /// </summary>
    public const string MirroredHeader = "X-Spegel-Mirrored";

    /// <summary>On an answer: the bytes come from a download still in progress on that node (pull coalescing).</summary>
    public const string InProgressHeader = "X-Spegel-In-Progress";

    /// <summary>
    /// On a request from one of our nodes: proof that the sender holds the cluster's peer key (<see cref="PeerProof"/>),
    /// sent instead of containerd's Basic-auth credentials, which never leave the node. Stock Spegel ignores it.
    /// </summary>
    public const string ProofHeader = "X-Spegel-Peer-Proof";

    /// <summary>True for a request header value that marks a request from a peer.</summary>
    public static bool IsMirrored(string? value) => string.Equals(value, "true", StringComparison.OrdinalIgnoreCase);
}
