using System.Net;

namespace Spegel.Registry;

/// <summary>
/// This node's own IP addresses, as the registry needs them: whether a client is this node's containerd (only its
/// misses may claim a download), and whether a peer's proof was addressed to this node. The host knows them
/// (interfaces, <c>NODE_IP</c>, the pod's gateway); tests pass a fixed set.
/// </summary>
internal interface INodeAddresses
{
    /// <summary>True when <paramref name="address"/> (IPv4-mapped addresses already unmapped) is one of this node's.</summary>
    bool Contains(IPAddress address);
}

/// <summary>A fixed set of addresses (none by default: loopback and the connection's own address still count).</summary>
internal sealed class FixedNodeAddresses(params IPAddress[] addresses) : INodeAddresses
{
    private readonly HashSet<IPAddress> _addresses = [.. addresses.Select(NodeAddress.Normalize)];

    public static FixedNodeAddresses None { get; } = new();

    public bool Contains(IPAddress address) => _addresses.Contains(NodeAddress.Normalize(address));
}

/// <summary>The rules for "this node", in one place.</summary>
internal static class NodeAddress
{
    /// <summary>An IPv4-mapped IPv6 address (a dual-mode socket's view of an IPv4 peer) as the IPv4 address it is.</summary>
    public static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    /// <summary>
    /// A client on this node: loopback, the address the connection arrived on (the node talking to itself), or one of
    /// <paramref name="node"/>'s addresses (containerd reaching a pod through the node IP's host port).
    /// </summary>
    public static bool IsLocalClient(IPAddress? remote, IPAddress? local, INodeAddresses node)
    {
        if (remote is null)
        {
            return false;
        }

        remote = Normalize(remote);
        return IPAddress.IsLoopback(remote) || (local is not null && remote.Equals(Normalize(local))) || node.Contains(remote);
    }
}
