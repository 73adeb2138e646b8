using Google.Protobuf;
using Spegel.Libp2p.Primitives;

namespace Spegel.Libp2p.Protocols;

/// <summary>Messages framed as <c>uvarint(length) || bytes</c>, with a size limit checked before allocating.</summary>
public static class LengthPrefixed
{
    /// <summary>Reads one message; null at a clean end of stream.</summary>
    /// <exception cref="InvalidDataException">Longer than <paramref name="maxBytes"/>, or a bad varint.</exception>
    public static async Task<byte[]?> ReadAsync(Stream stream, int maxBytes, CancellationToken cancellationToken)
    {
        ulong length;
        try
        {
            length = await Varint.ReadAsync(stream, cancellationToken).ConfigureAwait(false);
        }
        catch (EndOfStreamException ex) when (ex.Message == "stream ended")
        {
            return null;
        }

        if (length > (ulong)maxBytes)
        {
            throw new InvalidDataException($"message of {length} bytes exceeds the limit of {maxBytes}");
        }

        byte[] message = new byte[length];
        await stream.ReadExactlyAsync(message, cancellationToken).ConfigureAwait(false);
        return message;
    }

    public static async Task WriteAsync(Stream stream, IMessage message, CancellationToken cancellationToken)
    {
        byte[] body = message.ToByteArray();
        await stream.WriteAsync((byte[])[.. Varint.Encode((ulong)body.Length), .. body], cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }
}
