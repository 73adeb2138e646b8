using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Spegel.Libp2p.Muxing;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protocols;
using Spegel.Libp2p.Protos;
using Spegel.Libp2p.Transport;

namespace Spegel.Libp2p.Kademlia;

/// <summary>
/// Serves <c>/spegel/kad/1.0.0</c> as go-libp2p-kad-dht does: a loop of request → response on one stream until EOF
/// (ADD_PROVIDER gets no response); FIND_NODE and GET_PROVIDERS answer with the closest peers we know (never the
/// requester or ourselves); ADD_PROVIDER only stores records the sender signed up for itself.
/// </summary>
internal sealed partial class KadServer(Dht dht, ILogger logger)
{
    /// <summary>Entries of one ADD_PROVIDER looked at: the sender's own record is the first in every client we know.</summary>
    private const int MaxProviderEntries = 8;

    /// <summary>
    /// Requests handled in a row before the loop yields its thread. When a peer has sent many requests at once (a node's
    /// ADD_PROVIDERs after start, or a flood), every read completes at once and the loop would keep a thread-pool thread
    /// to itself: on 2 cores that starves Kestrel until the pool injects threads (0.1–0.8 s measured under 300,000
    /// ADD_PROVIDERs, AttackTests).
    /// </summary>
    private const int RequestsPerTurn = 32;

    public async Task HandleAsync(YamuxStream stream, Connection connection, CancellationToken cancellationToken)
    {
        var requester = connection.RemotePeer;
        for (long handled = 1; ; handled++)
        {
            if (handled % RequestsPerTurn == 0)
            {
                await Task.Yield();
            }

            byte[]? bytes;
            using (var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                // Idle between requests for up to a minute; once a request has started, it has to arrive in full soon.
                idle.CancelAfter(dht.Options.ServerIdleTimeout);
                try
                {
                    bytes = await LengthPrefixed.ReadAsync(stream, DhtOptions.MaxRequestBytes, connection.ReadBudget, () => idle.CancelAfter(dht.Options.MessageTimeout), idle.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    return;
                }
            }

            if (bytes is null)
            {
                return;
            }

            var request = Message.Parser.ParseFrom(bytes);
            var response = Handle(requester, request);
            if (response is not null)
            {
                await LengthPrefixed.WriteAsync(stream, response, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    internal Message? Handle(PeerId requester, Message request)
    {
        switch (request.Type)
        {
            case Message.Types.MessageType.FindNode:
                return new Message { Type = request.Type, ClusterLevelRaw = request.ClusterLevelRaw, CloserPeers = { CloserPeers(request.Key.Span, requester) } };

            case Message.Types.MessageType.GetProviders:
                if (request.Key.IsEmpty || request.Key.Length > 80 || !Multihash.TryParse(request.Key.Span, out var key))
                {
                    throw new InvalidDataException("GET_PROVIDERS needs a multihash key of at most 80 bytes");
                }

                return new Message
                {
                    Type = request.Type,
                    Key = request.Key,
                    ClusterLevelRaw = request.ClusterLevelRaw,
                    ProviderPeers = { dht.LocalProviders(key!).Take(dht.Options.MaxProvidersPerAnswer).Select(p => p.ToProto(dht.Host.GetConnection(p.Id) is not null)) },
                    CloserPeers = { CloserPeers(request.Key.Span, requester) },
                };

            case Message.Types.MessageType.AddProvider:
                AddProvider(requester, request);
                return null;

            case Message.Types.MessageType.Ping:
                return new Message { Type = request.Type, ClusterLevelRaw = request.ClusterLevelRaw };

            case Message.Types.MessageType.GetValue:
                // Spegel stores no values; answer like a node that has none.
                return new Message { Type = request.Type, Key = request.Key, ClusterLevelRaw = request.ClusterLevelRaw, CloserPeers = { CloserPeers(request.Key.Span, requester) } };

            default:
                throw new InvalidDataException($"unsupported DHT request {request.Type}");
        }
    }

    private void AddProvider(PeerId sender, Message request)
    {
        if (request.Key.IsEmpty || request.Key.Length > 80 || !Multihash.TryParse(request.Key.Span, out var key))
        {
            throw new InvalidDataException("ADD_PROVIDER needs a multihash key of at most 80 bytes");
        }

        // Only the sender may sign itself up: its ID is compared as bytes before anything of an entry is parsed, and
        // one message carries one record (go sends one per key), so a long list costs a comparison per entry at most.
        foreach (var entry in request.ProviderPeers.Take(MaxProviderEntries))
        {
            if (!entry.Id.Span.SequenceEqual(sender.Bytes))
            {
                continue;
            }

            var provider = PeerInfo.FromProto(entry);
            if (provider is null || provider.Addresses.Count == 0)
            {
                continue; // only with an address
            }

            if (dht.Providers.Add(key!, provider.Id))
            {
                dht.Host.Peers.AddAddresses(provider.Id, provider.Addresses, dht.Options.ProviderAddressTtl);
            }
            else
            {
                // A bound of the store (per key, per peer, in all): not the sender's fault, and the rest of its batch on
                // this stream may still fit, so the stream goes on.
                LogProviderNotStored(logger, sender.ToString());
            }

            return;
        }

        LogRejectedProvider(logger, sender.ToString());
        throw new InvalidDataException("ADD_PROVIDER without a valid record for the sender");
    }

    private IEnumerable<Message.Types.Peer> CloserPeers(ReadOnlySpan<byte> key, PeerId requester)
    {
        var result = new List<Message.Types.Peer>();
        if (PeerId.TryFromBytes(key, out var asPeer) && !asPeer!.Equals(requester) && !asPeer.Equals(dht.Host.Id))
        {
            var known = dht.Host.Peers.GetAddresses(asPeer);
            if (known.Count > 0)
            {
                result.Add(new PeerInfo(asPeer, known).ToProto(dht.Host.GetConnection(asPeer) is not null));
            }
        }

        foreach (var peer in dht.RoutingTable.Nearest(KeySpace.Position(key), dht.Options.K + 1))
        {
            if (result.Count >= dht.Options.K)
            {
                break;
            }

            if (peer.Equals(requester) || (asPeer is not null && peer.Equals(asPeer)))
            {
                continue;
            }

            var addresses = dht.Host.Peers.GetAddresses(peer);
            if (addresses.Count > 0)
            {
                result.Add(new PeerInfo(peer, addresses).ToProto(dht.Host.GetConnection(peer) is not null));
            }
        }

        return result;
    }

    [LoggerMessage(EventId = 2102, Level = LogLevel.Debug, Message = "ADD_PROVIDER from {Peer} not stored: the provider store's bounds are reached")]
    private static partial void LogProviderNotStored(ILogger logger, string peer);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Debug, Message = "Rejected ADD_PROVIDER from {Peer}: no record for the sender with an address")]
    private static partial void LogRejectedProvider(ILogger logger, string peer);
}
