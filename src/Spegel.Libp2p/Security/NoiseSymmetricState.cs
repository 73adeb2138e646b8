using System.Security.Cryptography;
using System.Text;

namespace Spegel.Libp2p.Security;

/// <summary>
/// Noise's SymmetricState for <c>Noise_XX_25519_ChaChaPoly_SHA256</c>: the chaining key, the handshake hash and the
/// current cipher. The protocol name is exactly 32 bytes, so it is the initial hash as is.
/// </summary>
internal sealed class NoiseSymmetricState : IDisposable
{
    public const string ProtocolName = "Noise_XX_25519_ChaChaPoly_SHA256";
    private byte[] _chainingKey;
    private byte[] _hash;
    private NoiseCipher? _cipher;

    public NoiseSymmetricState()
    {
        _hash = Encoding.ASCII.GetBytes(ProtocolName);
        _chainingKey = (byte[])_hash.Clone();
        MixHash([]); // the empty prologue
    }

    public ReadOnlySpan<byte> Hash => _hash;

    public ReadOnlySpan<byte> ChainingKey => _chainingKey;

    public bool HasKey => _cipher is not null;

    public void MixHash(ReadOnlySpan<byte> data) => _hash = SHA256.HashData([.. _hash, .. data]);

    public void MixKey(ReadOnlySpan<byte> inputKeyMaterial)
    {
        var (chainingKey, key) = Hkdf(_chainingKey, inputKeyMaterial);
        _chainingKey = chainingKey;
        _cipher?.Dispose();
        _cipher = new NoiseCipher(key);
    }

    public byte[] EncryptAndHash(ReadOnlySpan<byte> plaintext)
    {
        byte[] output;
        if (_cipher is null)
        {
            output = plaintext.ToArray();
        }
        else
        {
            output = new byte[plaintext.Length + NoiseCipher.TagSize];
            _cipher.Encrypt(_hash, plaintext, output);
        }

        MixHash(output);
        return output;
    }

    public byte[] DecryptAndHash(ReadOnlySpan<byte> ciphertext)
    {
        byte[] output;
        if (_cipher is null)
        {
            output = ciphertext.ToArray();
        }
        else
        {
            output = new byte[ciphertext.Length - NoiseCipher.TagSize];
            _cipher.Decrypt(_hash, ciphertext, output);
        }

        MixHash(ciphertext);
        return output;
    }

    /// <summary>The two transport ciphers: (initiator→responder, responder→initiator).</summary>
    public (NoiseCipher First, NoiseCipher Second) Split()
    {
        var (k1, k2) = Hkdf(_chainingKey, []);
        return (new NoiseCipher(k1), new NoiseCipher(k2));
    }

    /// <summary>
    /// Noise's HKDF with two outputs (equal to RFC 5869 HKDF-SHA256 with salt = chaining key, empty info, 64 bytes),
    /// written with HMAC because OpenSSL's HKDF refuses the empty input key material of <c>Split()</c>.
    /// </summary>
    public static (byte[] First, byte[] Second) Hkdf(ReadOnlySpan<byte> chainingKey, ReadOnlySpan<byte> inputKeyMaterial)
    {
        byte[] temp = HMACSHA256.HashData(chainingKey, inputKeyMaterial);
        byte[] first = HMACSHA256.HashData(temp, (byte[])[0x01]);
        byte[] second = HMACSHA256.HashData(temp, (byte[])[.. first, 0x02]);
        return (first, second);
    }

    public void Dispose() => _cipher?.Dispose();
}
