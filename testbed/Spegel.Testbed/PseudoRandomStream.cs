namespace Spegel.Testbed;

/// <summary>A read-only stream of <c>length</c> deterministic pseudo-random bytes (xorshift64*), generated as read.</summary>
public sealed class PseudoRandomStream(int seed, long length) : Stream
{
    private ulong _state = 0x9E3779B97F4A7C15UL ^ (ulong)(uint)seed ^ ((ulong)(uint)seed << 32) | 1;
    private long _position;
    private ulong _pending;
    private int _pendingBytes;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => length;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n = (int)Math.Min(buffer.Length, length - _position);
        for (int i = 0; i < n; i++)
        {
            if (_pendingBytes == 0)
            {
                _state ^= _state >> 12;
                _state ^= _state << 25;
                _state ^= _state >> 27;
                _pending = _state * 2685821657736338717UL;
                _pendingBytes = 8;
            }

            buffer[i] = (byte)_pending;
            _pending >>= 8;
            _pendingBytes--;
        }

        _position += n;
        return n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
