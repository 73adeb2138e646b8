using System.Buffers;
using System.Buffers.Binary;

namespace Spegel.Libp2p.Security;

/// <summary>
/// Noise transport messages over a stream: <c>uint16 BE length || ciphertext || tag</c>, at most 65535 bytes, so at
/// most 65519 plaintext bytes per frame. One reader and one writer at a time (the muxer serialises both).
/// Buffers are rented only while bytes are in flight, so an idle connection holds almost no memory; reads pull
/// whatever the socket has (several frames per syscall) and a large write goes out as one socket write.
/// </summary>
public sealed class NoiseStream : Streams.AsyncDuplexStream
{
    public const int MaxFrame = ushort.MaxValue;
    public const int MaxPlaintext = MaxFrame - NoiseCipher.TagSize;
    private const int ReadBufferSize = 128 * 1024;
    private const int MaxWriteBatch = 16 * (2 + MaxFrame);
    private readonly Stream _inner;
    private readonly NoiseCipher _send;
    private readonly NoiseCipher _receive;

    // Raw bytes read from the socket: [_rawStart, _rawEnd) not yet parsed.
    private byte[]? _raw;
    private int _rawStart;
    private int _rawEnd;

    // Decrypted plaintext of the current frame, inside _raw: [_plainOffset, _plainOffset + _plainCount).
    private int _plainOffset;
    private int _plainCount;

    internal NoiseStream(Stream inner, NoiseCipher send, NoiseCipher receive)
    {
        _inner = inner;
        _send = send;
        _receive = receive;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        while (_plainCount == 0)
        {
            if (!await NextFrameAsync(cancellationToken).ConfigureAwait(false))
            {
                return 0;
            }
        }

        int n = Math.Min(buffer.Length, _plainCount);
        _raw.AsSpan(_plainOffset, n).CopyTo(buffer.Span);
        _plainOffset += n;
        _plainCount -= n;
        if (_plainCount == 0 && _rawStart == _rawEnd)
        {
            ReturnReadBuffer();
        }

        return n;
    }

    /// <summary>Decrypts the next frame in place; false at a clean end of stream.</summary>
    private async ValueTask<bool> NextFrameAsync(CancellationToken cancellationToken)
    {
        if (!await FillAsync(2, cancellationToken).ConfigureAwait(false))
        {
            return false;
        }

        int length = BinaryPrimitives.ReadUInt16BigEndian(_raw.AsSpan(_rawStart));
        if (length < NoiseCipher.TagSize)
        {
            throw new InvalidDataException($"Noise frame of {length} bytes is shorter than its tag");
        }

        if (!await FillAsync(2 + length, cancellationToken).ConfigureAwait(false))
        {
            throw new EndOfStreamException("stream ended inside a Noise frame");
        }

        var frame = _raw.AsSpan(_rawStart + 2, length);
        _receive.Decrypt([], frame, frame);
        _plainOffset = _rawStart + 2;
        _plainCount = length - NoiseCipher.TagSize;
        _rawStart += 2 + length;
        return true;
    }

    /// <summary>Ensures <paramref name="count"/> unparsed bytes are buffered; false at end of stream before any.</summary>
    private async ValueTask<bool> FillAsync(int count, CancellationToken cancellationToken)
    {
        if (_raw is null)
        {
            // Wait for data with a zero-byte read before renting a buffer: an idle connection holds none.
            await _inner.ReadAsync(Memory<byte>.Empty, cancellationToken).ConfigureAwait(false);
            _raw = ArrayPool<byte>.Shared.Rent(ReadBufferSize);
        }

        if (_rawEnd - _rawStart >= count)
        {
            return true;
        }

        if (_rawStart + count > _raw.Length)
        {
            // Move the unparsed tail to the front (the plaintext before it was consumed already).
            Buffer.BlockCopy(_raw, _rawStart, _raw, 0, _rawEnd - _rawStart);
            _rawEnd -= _rawStart;
            _rawStart = 0;
        }

        while (_rawEnd - _rawStart < count)
        {
            int n = await _inner.ReadAsync(_raw.AsMemory(_rawEnd), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                if (_rawEnd == _rawStart)
                {
                    return false;
                }

                throw new EndOfStreamException("stream ended inside a Noise frame");
            }

            _rawEnd += n;
        }

        return true;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!buffer.IsEmpty)
        {
            int frames = Math.Min((buffer.Length + MaxPlaintext - 1) / MaxPlaintext, MaxWriteBatch / (2 + MaxFrame));
            byte[] output = ArrayPool<byte>.Shared.Rent(frames * (2 + MaxFrame));
            try
            {
                int written = 0;
                for (int i = 0; i < frames && !buffer.IsEmpty; i++)
                {
                    int n = Math.Min(buffer.Length, MaxPlaintext);
                    BinaryPrimitives.WriteUInt16BigEndian(output.AsSpan(written), (ushort)(n + NoiseCipher.TagSize));
                    _send.Encrypt([], buffer.Span[..n], output.AsSpan(written + 2, n + NoiseCipher.TagSize));
                    written += 2 + n + NoiseCipher.TagSize;
                    buffer = buffer[n..];
                }

                await _inner.WriteAsync(output.AsMemory(0, written), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(output);
            }
        }
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

    public override void Flush() => _inner.Flush();

    private void ReturnReadBuffer()
    {
        if (_raw is not null)
        {
            ArrayPool<byte>.Shared.Return(_raw);
            _raw = null;
            _rawStart = _rawEnd = _plainOffset = 0;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _send.Dispose();
            _receive.Dispose();
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
