using System.Net.Sockets;
using System.Security.Cryptography;
using Google.Protobuf;

namespace Spegel.Libp2p.Transport;

/// <summary>
/// What a remote peer can make an exchange with it throw: it is gone, slow, reset the stream, spoke another protocol or
/// sent bytes that do not parse. One list for every place that treats a peer's failure as that peer's problem (log it,
/// try another, provide as usual), so no path lets one of these end a loop that the others survive: a connection that
/// closes while a stream opens on it throws <see cref="ObjectDisposedException"/>, a dial that times out
/// <see cref="TimeoutException"/>, a Noise handshake with bad bytes <see cref="CryptographicException"/>.
/// </summary>
/// <remarks>
/// <see cref="OperationCanceledException"/> counts: a request's own timeout cancels it. Callers whose own token was
/// cancelled must rethrow rather than log a peer's failure (<c>cancellationToken.ThrowIfCancellationRequested()</c>).
/// </remarks>
public static class PeerFailure
{
    /// <summary>Whether <paramref name="exception"/> is a remote peer's failure rather than a bug of ours.</summary>
    public static bool Is(Exception exception) => exception is IOException // includes EndOfStreamException
        or SocketException
        or OperationCanceledException
        or TimeoutException
        or ObjectDisposedException
        or InvalidDataException
        or InvalidProtocolBufferException
        or NotSupportedException
        or CryptographicException;
}
