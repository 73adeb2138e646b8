using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protocols;
using Spegel.Libp2p.Protos;

namespace Spegel.Libp2p.Kademlia;

/// <summary>Sends DHT requests: one stream per request, or one stream for a batch of one-way messages.</summary>
internal sealed class KadClient(Dht dht)
{
    /// <summary>Sends a request and reads its response within the request timeout, dialing <paramref name="hints"/> if we have no connection and know no address.</summary>
    public async Task<Message> RequestAsync(PeerId peer, IReadOnlyList<Multiaddr> hints, Message request, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(dht.Options.RequestTimeout);
        var connection = await dht.Host.ConnectAsync(peer, hints, timeout.Token).ConfigureAwait(false);
        await using var stream = await connection.OpenStreamAsync(dht.Options.ProtocolId, timeout.Token).ConfigureAwait(false);
        await LengthPrefixed.WriteAsync(stream, request, timeout.Token).ConfigureAwait(false);
        byte[] bytes = await LengthPrefixed.ReadAsync(stream, DhtOptions.MaxMessageBytes, connection.ReadBudget, started: null, timeout.Token).ConfigureAwait(false)
            ?? throw new EndOfStreamException($"{peer} closed the stream without answering");
        var response = Message.Parser.ParseFrom(bytes);
        if (response.Type != request.Type)
        {
            throw new InvalidDataException($"{peer} answered {request.Type} with {response.Type}");
        }

        return response;
    }

    /// <summary>Writes one-way messages (ADD_PROVIDER) on one stream, then closes it.</summary>
    public async Task SendAsync(PeerId peer, IReadOnlyList<Message> messages, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(dht.Options.RequestTimeout + TimeSpan.FromMilliseconds(messages.Count));
        await using var stream = await dht.Host.NewStreamAsync(peer, dht.Options.ProtocolId, timeout.Token).ConfigureAwait(false);
        foreach (var message in messages)
        {
            await LengthPrefixed.WriteAsync(stream, message, timeout.Token).ConfigureAwait(false);
        }

        await stream.CloseWriteAsync(timeout.Token).ConfigureAwait(false);
    }
}
