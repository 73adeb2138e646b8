using Google.Protobuf;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protos;

namespace Spegel.Libp2p.Kademlia;

/// <summary>A peer and the addresses we know for it.</summary>
public sealed record PeerInfo(PeerId Id, IReadOnlyList<Multiaddr> Addresses)
{
    internal Message.Types.Peer ToProto(bool connected)
    {
        var peer = new Message.Types.Peer
        {
            Id = ByteString.CopyFrom(Id.Bytes),
            Connection = connected ? Message.Types.ConnectionType.Connected : Message.Types.ConnectionType.NotConnected,
        };
        peer.Addrs.Add(Addresses.Select(a => ByteString.CopyFrom(a.WithoutPeerId().Bytes)));
        return peer;
    }

    /// <summary>Addresses read from one entry: a node has a handful (one per interface IP); the rest are ignored.</summary>
    public const int MaxAddresses = 8;

    /// <summary>Reads a peer entry; null when its ID is invalid. Undecodable addresses are skipped, not fatal.</summary>
    internal static PeerInfo? FromProto(Message.Types.Peer peer)
    {
        if (!PeerId.TryFromBytes(peer.Id.Span, out var id))
        {
            return null;
        }

        var addresses = new List<Multiaddr>();
        foreach (var raw in peer.Addrs.Take(MaxAddresses))
        {
            if (Multiaddr.TryDecode(raw.Span, out var address))
            {
                addresses.Add(address!);
            }
        }

        return new PeerInfo(id!, addresses);
    }
}
