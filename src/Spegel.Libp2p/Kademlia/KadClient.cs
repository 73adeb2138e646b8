using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protocols;
using Spegel.Libp2p.Protos;
using Spegel.Libp2p.Transport;

namespace Spegel.Libp2p.Kademlia;

/// <summary>Sends DHT requests: one stream per request, or one stream for a batch of one-way messages.</summary>
internal sealed class KadClient(Dht dht) : IKadTransport
{
    /// <summary>Sends a request and reads its response within the request timeout, dialing <paramref name="hints"/> if we have no connection and know no address.</summary>
    public Task<Message> RequestAsync(PeerId peer, IReadOnlyList<Multiaddr> hints, Message request, CancellationToken cancellationToken) =>
        RequestAsync(peer, hints, oneWay: null, request, cancellationToken);

    /// <summary>
    /// Sends <paramref name="oneWay"/> (an ADD_PROVIDER) and then <paramref name="request"/> on one stream: the peer
    /// handles a stream's messages in order (go, js and we do), so the request's answer reflects the one-way message.
    /// </summary>
    public async Task<Message> RequestAsync(PeerId peer, IReadOnlyList<Multiaddr> hints, Message? oneWay, Message request, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(dht.Options.RequestTimeout);
        var (connection, stream) = await OpenAsync(peer, hints, timeout.Token).ConfigureAwait(false);
        await using var _ = stream;
        if (oneWay is not null)
        {
            await LengthPrefixed.WriteAsync(stream, oneWay, timeout.Token).ConfigureAwait(false);
        }

        await LengthPrefixed.WriteAsync(stream, request, timeout.Token).ConfigureAwait(false);
        return await ReadAnswerAsync(peer, connection, stream, request, timeout.Token).ConfigureAwait(false);
    }

    /// <summary>Sends <paramref name="requests"/> on one stream, each after the previous one's answer, each within the request timeout.</summary>
    public async Task<IReadOnlyList<Message>> RequestEachAsync(PeerId peer, IReadOnlyList<Message> requests, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(dht.Options.RequestTimeout);
        var (connection, stream) = await OpenAsync(peer, [], timeout.Token).ConfigureAwait(false);
        await using var _ = stream;
        var answers = new List<Message>(requests.Count);
        foreach (var request in requests)
        {
            timeout.CancelAfter(dht.Options.RequestTimeout);
            await LengthPrefixed.WriteAsync(stream, request, timeout.Token).ConfigureAwait(false);
            answers.Add(await ReadAnswerAsync(peer, connection, stream, request, timeout.Token).ConfigureAwait(false));
        }

        return answers;
    }

    /// <summary>A DHT stream to <paramref name="peer"/>, over its connection or a new one (dialing <paramref name="hints"/> if we know no address).</summary>
    private async Task<(Connection Connection, Stream Stream)> OpenAsync(PeerId peer, IReadOnlyList<Multiaddr> hints, CancellationToken cancellationToken)
    {
        var connection = await dht.Host.ConnectAsync(peer, hints, cancellationToken).ConfigureAwait(false);
        return (connection, await connection.OpenStreamAsync(dht.Options.ProtocolId, cancellationToken).ConfigureAwait(false));
    }

    private static async Task<Message> ReadAnswerAsync(PeerId peer, Connection connection, Stream stream, Message request, CancellationToken cancellationToken)
    {
        byte[] bytes = await LengthPrefixed.ReadAsync(stream, DhtOptions.MaxMessageBytes, connection.ReadBudget, started: null, cancellationToken).ConfigureAwait(false)
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
