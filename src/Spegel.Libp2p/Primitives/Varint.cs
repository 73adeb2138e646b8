namespace Spegel.Libp2p.Primitives;

/// <summary>
/// Unsigned varints of multiformats: little-endian base-128, MSB = continuation, minimal, at most 9 bytes
/// (63 bits). Used by multihash, multiaddr, CID and every length-prefixed libp2p message.
/// </summary>
public static class Varint
{
    public const int MaxBytes = 9;

    public static int Size(ulong value)
    {
        int size = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            size++;
        }

        return size;
    }

    public static int Write(Span<byte> destination, ulong value)
    {
        if (value > long.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(value), "multiformats varints hold at most 63 bits");
        }

        int i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[i++] = (byte)value;
        return i;
    }

    public static byte[] Encode(ulong value)
    {
        byte[] bytes = new byte[Size(value)];
        Write(bytes, value);
        return bytes;
    }

    /// <summary>Reads a varint; false when the input is truncated, non-minimal or longer than 9 bytes.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out ulong value, out int consumed)
    {
        value = 0;
        consumed = 0;
        for (int i = 0; i < MaxBytes && i < source.Length; i++)
        {
            byte b = source[i];
            value |= (ulong)(b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
            {
                if (b == 0 && i > 0)
                {
                    return false; // non-minimal: a trailing zero group
                }

                consumed = i + 1;
                return true;
            }
        }

        value = 0;
        return false;
    }

    /// <summary>Reads a varint from a stream one byte at a time (so nothing past it is consumed).</summary>
    /// <exception cref="EndOfStreamException">The stream ended first.</exception>
    /// <exception cref="InvalidDataException">The varint is non-minimal or too long.</exception>
    public static async ValueTask<ulong> ReadAsync(Stream stream, CancellationToken cancellationToken)
    {
        byte[] one = new byte[1];
        ulong value = 0;
        for (int i = 0; i < MaxBytes; i++)
        {
            int n = await stream.ReadAsync(one, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                if (i == 0)
                {
                    throw new EndOfStreamException("stream ended");
                }

                throw new EndOfStreamException("stream ended inside a varint");
            }

            byte b = one[0];
            value |= (ulong)(b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
            {
                if (b == 0 && i > 0)
                {
                    throw new InvalidDataException("non-minimal varint");
                }

                return value;
            }
        }

        throw new InvalidDataException("varint longer than 9 bytes");
    }
}
