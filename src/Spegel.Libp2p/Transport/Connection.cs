using Spegel.Libp2p.Muxing;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Streams;
using Spegel.Libp2p.Security;

namespace Spegel.Libp2p.Transport;

/// <summary>An upgraded connection to one peer: TCP → Noise → yamux.</summary>
public sealed class Connection : IAsyncDisposable
{
    internal Connection(PeerId remotePeer, Multiaddr remoteAddress, bool isOutbound, YamuxSession session, MessageBudget? readBudget = null)
    {
        ReadBudget = readBudget;
        RemotePeer = remotePeer;
        RemoteAddress = remoteAddress;
        IsOutbound = isOutbound;
        Session = session;
    }

    public PeerId RemotePeer { get; }

    public Multiaddr RemoteAddress { get; }

    public bool IsOutbound { get; }

    /// <summary>Order of establishment on this host (higher: newer).</summary>
    internal long Sequence { get; init; }

    public YamuxSession Session { get; }

    /// <summary>What this connection's messages may hold while they arrive (<see cref="LengthPrefixed"/>).</summary>
    public MessageBudget? ReadBudget { get; }

    public bool IsClosed => Session.IsClosed;

    /// <summary>Opens a stream and negotiates <paramref name="protocol"/> on it (pipelined multistream-select).</summary>
    /// <exception cref="NotSupportedException">The peer answered <c>na</c>.</exception>
    public async Task<YamuxStream> OpenStreamAsync(string protocol, CancellationToken cancellationToken)
    {
        var stream = await Session.OpenStreamAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!await Multistream.SelectAsync(stream, protocol, cancellationToken).ConfigureAwait(false))
            {
                throw new NotSupportedException($"{RemotePeer} does not speak {protocol}");
            }

            stream.Protocol = protocol;
            return stream;
        }
        catch
        {
            await stream.ResetAsync().ConfigureAwait(false);
            throw;
        }
    }

    public ValueTask DisposeAsync() => Session.DisposeAsync();

    public override string ToString() => $"{RemotePeer} at {RemoteAddress} ({(IsOutbound ? "out" : "in")})";
}
