using System.Diagnostics;
using System.Security.Cryptography;
using Spegel.Libp2p.Muxing;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Transport;

namespace Spegel.Libp2p.Protocols;

/// <summary><c>/ipfs/ping/1.0.0</c>: 32 random bytes, echoed; repeated on one stream. js kad-dht pings new contacts.</summary>
public static class PingService
{
    public const string ProtocolId = "/ipfs/ping/1.0.0";
    public const int PayloadSize = 32;

    public static async Task HandleAsync(YamuxStream stream, Connection connection, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[PayloadSize];
        while (true)
        {
            int read = await stream.ReadAtLeastAsync(buffer, PayloadSize, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            if (read < PayloadSize)
            {
                return;
            }

            await stream.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One ping round trip to <paramref name="peer"/>.</summary>
    public static async Task<TimeSpan> PingAsync(Libp2pHost host, PeerId peer, CancellationToken cancellationToken)
    {
        await using var stream = await host.NewStreamAsync(peer, ProtocolId, cancellationToken).ConfigureAwait(false);
        byte[] payload = RandomNumberGenerator.GetBytes(PayloadSize);
        byte[] echo = new byte[PayloadSize];
        long start = Stopwatch.GetTimestamp();
        await stream.WriteAsync(payload, cancellationToken).ConfigureAwait(false);
        await stream.ReadExactlyAsync(echo, cancellationToken).ConfigureAwait(false);
        if (!payload.AsSpan().SequenceEqual(echo))
        {
            throw new InvalidDataException("ping answer differs from the request");
        }

        return Stopwatch.GetElapsedTime(start);
    }
}
