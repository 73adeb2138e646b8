using System.Buffers;
using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Parameters;

namespace Spegel.Libp2p.Pnet;

/// <summary>
/// A connection inside a libp2p private network (libp2p specs, pnet/Private-Networks-PSK-V1.md, "Algorithm"), the
/// wire of go-libp2p's <c>pnet</c> and js-libp2p's <c>@libp2p/pnet</c>:
/// <code>
/// each side: send N = 24 random bytes (its nonce), in the clear, as soon as TCP connects
///            read the remote's 24-byte nonce R
///            every byte sent     = plaintext ⊕ XSalsa20(swarm key, N) keystream (continuous from byte 0)
///            every byte received = ciphertext ⊕ XSalsa20(swarm key, R) keystream
/// </code>
/// Then multistream-select, Noise and yamux run inside as usual. There is no MAC and no handshake of its own: a peer
/// with another key (or none) is refused because what it sends decrypts to noise. Noise above authenticates every
/// byte, so tampering here is caught there.
/// </summary>
/// <remarks>One reader and one writer at a time, as for every stream of the host (Noise above serialises both).</remarks>
public sealed class PnetStream : Streams.AsyncDuplexStream
{
    public const int NonceLength = 24;

    /// <summary>Encrypted bytes go out in pieces of this size at most, from a pooled buffer.</summary>
    private const int WriteChunk = 64 * 1024;

    private readonly Stream _inner;
    private readonly XSalsa20Engine _send = new();
    private readonly XSalsa20Engine _receive = new();
    private byte[]? _expected;
    private int _checked;
    private bool _writeFailed;

    private PnetStream(Stream inner, SwarmKey key, byte[] localNonce, byte[] remoteNonce, byte[]? expected)
    {
        _inner = inner;
        _send.Init(true, new ParametersWithIV(new KeyParameter(key.Bytes), localNonce));
        _receive.Init(false, new ParametersWithIV(new KeyParameter(key.Bytes), remoteNonce));
        _expected = expected is { Length: > 0 } ? expected : null;
    }

    /// <summary>
    /// Exchanges nonces over the raw connection <paramref name="inner"/> and returns the encrypted stream (which owns
    /// it); with no <paramref name="key"/>, returns <paramref name="inner"/> itself: today's public wire.
    /// </summary>
    /// <param name="expectedPrefix">
    /// What the remote's first plaintext bytes must be (multistream-select's header, which every libp2p peer sends
    /// first). Only for the error message: a peer with another key fails as "another swarm key" rather than as a
    /// strange multistream message. Empty: no check.
    /// </param>
    /// <exception cref="IOException">The connection ended or failed during the exchange.</exception>
    public static async Task<Stream> ProtectAsync(Stream inner, SwarmKey? key, ReadOnlyMemory<byte> expectedPrefix, CancellationToken cancellationToken)
    {
        if (key is null)
        {
            return inner;
        }

        // Both sides write before they read, so neither waits on the other (js-libp2p allows the exchange 1 s).
        byte[] local = RandomNumberGenerator.GetBytes(NonceLength);
        await inner.WriteAsync(local, cancellationToken).ConfigureAwait(false);
        await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
        byte[] remote = new byte[NonceLength];
        try
        {
            await inner.ReadExactlyAsync(remote, cancellationToken).ConfigureAwait(false);
        }
        catch (EndOfStreamException ex)
        {
            throw new EndOfStreamException("the peer hung up during the private network's nonce exchange (it has another swarm key, or none?)", ex);
        }

        return new PnetStream(inner, key, local, remote, expectedPrefix.ToArray());
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // A zero-byte read (waiting for data before renting a buffer, as Noise does) passes through untouched.
        int n = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (n > 0)
        {
            var bytes = buffer.Span[..n];
            _receive.ProcessBytes(bytes, bytes);
            CheckPrefix(bytes);
        }

        return n;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return;
        }

        if (_writeFailed)
        {
            // The keystream ran ahead of what the remote received: anything more would decrypt to noise there.
            throw new IOException("an earlier write on this private-network connection failed");
        }

        byte[] output = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length, WriteChunk));
        try
        {
            while (!buffer.IsEmpty)
            {
                int n = Math.Min(buffer.Length, output.Length);
                _send.ProcessBytes(buffer.Span[..n], output.AsSpan(0, n));
                _writeFailed = true;
                await _inner.WriteAsync(output.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                _writeFailed = false;
                buffer = buffer[n..];
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(output);
        }
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

    public override void Flush() => _inner.Flush();

    private void CheckPrefix(ReadOnlySpan<byte> plaintext)
    {
        if (_expected is null)
        {
            return;
        }

        int n = Math.Min(plaintext.Length, _expected.Length - _checked);
        if (!plaintext[..n].SequenceEqual(_expected.AsSpan(_checked, n)))
        {
            throw new InvalidDataException("the peer's bytes do not decrypt with our swarm key: it has another key, or none (a private network admits only peers with the same key)");
        }

        _checked += n;
        if (_checked == _expected.Length)
        {
            _expected = null;
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
