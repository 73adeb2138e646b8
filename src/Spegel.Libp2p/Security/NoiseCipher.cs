using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Spegel.Libp2p.Security;

/// <summary>A Noise CipherState: ChaCha20-Poly1305 with the nonce <c>00000000 || LE64(n)</c>.</summary>
internal sealed class NoiseCipher : IDisposable
{
    public const int TagSize = 16;
    private readonly ChaCha20Poly1305 _aead;
    private ulong _nonce;

    public NoiseCipher(ReadOnlySpan<byte> key)
    {
        _aead = new ChaCha20Poly1305(key);
    }

    public void Encrypt(ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> plaintext, Span<byte> ciphertextAndTag)
    {
        Span<byte> nonce = stackalloc byte[12];
        NextNonce(nonce);
        _aead.Encrypt(nonce, plaintext, ciphertextAndTag[..plaintext.Length], ciphertextAndTag.Slice(plaintext.Length, TagSize), associatedData);
    }

    /// <exception cref="AuthenticationTagMismatchException">The frame was not made with our key and nonce.</exception>
    public void Decrypt(ReadOnlySpan<byte> associatedData, ReadOnlySpan<byte> ciphertextAndTag, Span<byte> plaintext)
    {
        if (ciphertextAndTag.Length < TagSize)
        {
            throw new AuthenticationTagMismatchException("Noise message shorter than its tag");
        }

        Span<byte> nonce = stackalloc byte[12];
        NextNonce(nonce);
        int length = ciphertextAndTag.Length - TagSize;
        _aead.Decrypt(nonce, ciphertextAndTag[..length], ciphertextAndTag[length..], plaintext[..length], associatedData);
    }

    public void Dispose() => _aead.Dispose();

    private void NextNonce(Span<byte> nonce)
    {
        if (_nonce == ulong.MaxValue)
        {
            throw new CryptographicException("Noise nonce exhausted");
        }

        nonce[..4].Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(nonce[4..], _nonce++);
    }
}
