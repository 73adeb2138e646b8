using System.Buffers;
using System.Buffers.Binary;

namespace Spegel.Libp2p.Security;

/// <summary>
/// Noise transport messages over a stream: <c>uint16 BE length || ciphertext || tag</c>, at most 65535 bytes, so at
/// most 65519 plaintext bytes per frame. One reader and one writer at a time (the muxer serialises both).
/// </summary>
public sealed class NoiseStream : Stream
{
    public const int MaxFrame = ushort.MaxValue;
    public const int MaxPlaintext = MaxFrame - NoiseCipher.TagSize;
    private readonly Stream _inner;
    private readonly NoiseCipher _send;
    private readonly NoiseCipher _receive;
    private readonly byte[] _readBuffer = new byte[MaxFrame];
    private readonly byte[] _plain = new byte[MaxPlaintext];
    private readonly byte[] _writeBuffer = new byte[2 + MaxFrame];
    private int _plainOffset;
    private int _plainCount;

    internal NoiseStream(Stream inner, NoiseCipher send, NoiseCipher receive)
    {
        _inner = inner;
        _send = send;
        _receive = receive;
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        while (_plainCount == 0)
        {
            // Each frame may carry zero plaintext bytes; keep reading until data or end of stream.
            int first = await _inner.ReadAtLeastAsync(_readBuffer.AsMemory(0, 2), 2, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            if (first == 0)
            {
                return 0;
            }

            if (first < 2)
            {
                throw new EndOfStreamException("stream ended inside a Noise frame header");
            }

            int length = BinaryPrimitives.ReadUInt16BigEndian(_readBuffer);
            if (length < NoiseCipher.TagSize)
            {
                throw new InvalidDataException($"Noise frame of {length} bytes is shorter than its tag");
            }

            await _inner.ReadExactlyAsync(_readBuffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            _receive.Decrypt([], _readBuffer.AsSpan(0, length), _plain);
            _plainOffset = 0;
            _plainCount = length - NoiseCipher.TagSize;
        }

        int n = Math.Min(buffer.Length, _plainCount);
        _plain.AsSpan(_plainOffset, n).CopyTo(buffer.Span);
        _plainOffset += n;
        _plainCount -= n;
        return n;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!buffer.IsEmpty)
        {
            int n = Math.Min(buffer.Length, MaxPlaintext);
            BinaryPrimitives.WriteUInt16BigEndian(_writeBuffer, (ushort)(n + NoiseCipher.TagSize));
            _send.Encrypt([], buffer.Span[..n], _writeBuffer.AsSpan(2, n + NoiseCipher.TagSize));
            await _inner.WriteAsync(_writeBuffer.AsMemory(0, 2 + n + NoiseCipher.TagSize), cancellationToken).ConfigureAwait(false);
            buffer = buffer[n..];
        }
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush() => _inner.Flush();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

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
