namespace Spegel.Routing;

/// <summary>A peer the router knows (in its routing table, connected, or both) and the addresses it has for it.</summary>
internal sealed record KnownPeer(string Id, bool Connected, IReadOnlyList<string> Addresses);

/// <summary>
/// What the router knows at one moment, as text: this node's ID and addresses, and its peers ordered by ID. The debug
/// page reads this instead of reaching through the router into the libp2p host and the DHT.
/// </summary>
internal sealed record RouterSnapshot(string Id, IReadOnlyList<string> Addresses, IReadOnlyList<KnownPeer> Peers);
