using Google.Protobuf;
using Spegel.Libp2p.Muxing;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Streams;
using Spegel.Libp2p.Protos;
using Spegel.Libp2p.Transport;

namespace Spegel.Libp2p.Protocols;

/// <summary>
/// <c>/ipfs/id/1.0.0</c> and <c>/ipfs/id/push/1.0.0</c> (specs identify/README.md). The side that opens the stream
/// asks; the other writes one length-prefixed <c>Identify</c> and closes. Readers accept up to 10 messages of at most
/// 8 KiB and merge them (go splits a large message in two).
/// </summary>
internal sealed class IdentifyService(Libp2pHost host)
{
    public const string ProtocolId = "/ipfs/id/1.0.0";
    public const string PushProtocolId = "/ipfs/id/push/1.0.0";
    public const int MaxMessageBytes = 8 * 1024;
    public const int MaxMessages = 10;
    private static readonly TimeSpan AddressTtl = TimeSpan.FromHours(1);

    public Identify BuildMessage(Connection connection)
    {
        var message = new Identify
        {
            PublicKey = ByteString.CopyFrom(host.Options.Identity.PublicKey.ToProtobuf()),
            ObservedAddr = ByteString.CopyFrom(connection.RemoteAddress.Bytes),
            ProtocolVersion = "ipfs/0.1.0",
            AgentVersion = host.Options.AgentVersion,
        };
        message.ListenAddrs.Add(host.Addresses.Select(a => ByteString.CopyFrom(a.Bytes)));
        message.Protocols.Add(host.Protocols.Order(StringComparer.Ordinal));
        return message;
    }

    /// <summary>Answers an identify request.</summary>
    public async Task HandleRequestAsync(YamuxStream stream, Connection connection, CancellationToken cancellationToken)
    {
        await LengthPrefixed.WriteAsync(stream, BuildMessage(connection), cancellationToken).ConfigureAwait(false);
        await stream.CloseWriteAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Takes a pushed update.</summary>
    public async Task HandlePushAsync(YamuxStream stream, Connection connection, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(host.Options.NegotiationTimeout); // a push is one short message: no stream held open for ever
        var message = await ReadMergedAsync(stream, connection.ReadBudget, timeout.Token).ConfigureAwait(false);
        Apply(connection.RemotePeer, message, isPush: true);
    }

    /// <summary>Asks a newly connected peer who it is; records its addresses and protocols.</summary>
    public async Task IdentifyAsync(Connection connection, CancellationToken cancellationToken)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, connection.Session.Closed);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            await using var stream = await connection.OpenStreamAsync(ProtocolId, timeout.Token).ConfigureAwait(false);
            await stream.CloseWriteAsync(timeout.Token).ConfigureAwait(false);
            var message = await ReadMergedAsync(stream, connection.ReadBudget, timeout.Token).ConfigureAwait(false);
            Apply(connection.RemotePeer, message, isPush: false);
        }
        catch (Exception ex) when (PeerFailure.Is(ex))
        {
            // A peer that cannot tell who it is stays unidentified: it never enters the routing table.
        }
    }

    public static async Task<Identify> ReadMergedAsync(Stream stream, MessageBudget? budget, CancellationToken cancellationToken)
    {
        var merged = new Identify();
        for (int i = 0; i < MaxMessages; i++)
        {
            byte[]? bytes = await LengthPrefixed.ReadAsync(stream, MaxMessageBytes, budget, started: null, cancellationToken).ConfigureAwait(false);
            if (bytes is null)
            {
                return merged;
            }

            merged.MergeFrom(bytes);
        }

        return merged;
    }

    /// <summary>Records what a peer told us; a push only changes the fields it carries.</summary>
    private void Apply(PeerId peer, Identify message, bool isPush)
    {
        if (!message.PublicKey.IsEmpty)
        {
            var key = Crypto.PublicKey.FromProtobuf(message.PublicKey.Span);
            if (!key.ToPeerId().Equals(peer))
            {
                throw new InvalidDataException($"identify from {peer} carries another peer's key");
            }
        }

        var addresses = new List<Multiaddr>();
        foreach (var raw in message.ListenAddrs.Take(32))
        {
            if (Multiaddr.TryDecode(raw.Span, out var address) && address!.TcpEndPoint is not null)
            {
                addresses.Add(address);
            }
        }

        host.Peers.AddAddresses(peer, addresses, AddressTtl);
        if (!isPush || message.Protocols.Count > 0)
        {
            host.Peers.SetProtocols(peer, message.Protocols, host.Protocols);
        }

        host.OnIdentified(peer);
    }
}
