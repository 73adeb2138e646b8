using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protos;

namespace Spegel.Libp2p.Kademlia;

/// <summary>
/// How a DHT node's requests reach a peer: the libp2p streams of <see cref="KadClient"/> in the product, an in-memory
/// network in the scale simulation (bench <c>scale</c>), which answers with the peer's <see cref="Dht.Answer"/>. Only
/// the messages cross this seam, so lookups, providing and the reprovide sweep run unchanged above it.
/// </summary>
internal interface IKadTransport
{
    /// <summary>Sends a request and returns the peer's answer; throws when the peer cannot be reached or does not answer.</summary>
    Task<Message> RequestAsync(PeerId peer, IReadOnlyList<Multiaddr> hints, Message request, CancellationToken cancellationToken);

    /// <summary>
    /// Sends <paramref name="oneWay"/> (an ADD_PROVIDER) and then <paramref name="request"/>, in that order, and returns the
    /// answer to the request, which reflects the one-way message (a pull claim's arbiter, <see cref="Dht.ClaimAsync"/>).
    /// By default the two go one after the other; <see cref="KadClient"/> sends both on one stream.
    /// </summary>
    async Task<Message> RequestAsync(PeerId peer, IReadOnlyList<Multiaddr> hints, Message? oneWay, Message request, CancellationToken cancellationToken)
    {
        if (oneWay is not null)
        {
            await SendAsync(peer, [oneWay], cancellationToken).ConfigureAwait(false);
        }

        return await RequestAsync(peer, hints, request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends <paramref name="requests"/> one after the other and returns their answers in order (a reprovide's probes of
    /// one peer). By default each goes on its own; <see cref="KadClient"/> sends them on one stream.
    /// </summary>
    async Task<IReadOnlyList<Message>> RequestEachAsync(PeerId peer, IReadOnlyList<Message> requests, CancellationToken cancellationToken)
    {
        var answers = new List<Message>(requests.Count);
        foreach (var request in requests)
        {
            answers.Add(await RequestAsync(peer, [], request, cancellationToken).ConfigureAwait(false));
        }

        return answers;
    }

    /// <summary>Delivers one-way messages (ADD_PROVIDER) to the peer, in order.</summary>
    Task SendAsync(PeerId peer, IReadOnlyList<Message> messages, CancellationToken cancellationToken);
}
