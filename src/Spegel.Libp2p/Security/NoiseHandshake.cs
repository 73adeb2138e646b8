using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Org.BouncyCastle.Math.EC.Rfc7748;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protos;

namespace Spegel.Libp2p.Security;

/// <summary>The result of a Noise handshake: the encrypted stream and who is on the other end.</summary>
public sealed record SecureSession(NoiseStream Stream, PeerId RemotePeer, Crypto.PublicKey RemoteKey, IReadOnlyList<string> RemoteMuxers);

/// <summary>The remote's key does not belong to the peer we dialed. <see cref="Actual"/> is who answered.</summary>
public sealed class PeerIdMismatchException(PeerId expected, PeerId actual)
    : IOException($"dialed {expected} but {actual} answered")
{
    public PeerId Expected { get; } = expected;

    public PeerId Actual { get; } = actual;
}

/// <summary>
/// libp2p's Noise handshake, <c>Noise_XX_25519_ChaChaPoly_SHA256</c> (specs noise/README.md):
/// <code>
/// -> e                      (32 bytes, empty payload)
/// &lt;- e, ee, s, es           (responder's payload: identity key, signature, muxers)
/// -> s, se                  (initiator's payload)
/// </code>
/// Every message is <c>uint16 BE length || body</c>. The TCP dialer is the initiator. A fresh X25519 static key
/// per connection, bound to the identity by the payload signature over <c>"noise-libp2p-static-key:" || s</c>.
/// </summary>
public static class NoiseHandshake
{
    public const string ProtocolId = "/noise";
    private const int KeySize = 32;
    private static readonly byte[] SignaturePrefix = Encoding.ASCII.GetBytes("noise-libp2p-static-key:");

    public static async Task<SecureSession> InitiateAsync(Stream stream, PrivateKey identity, PeerId? expected, IReadOnlyList<string> muxers, CancellationToken cancellationToken)
    {
        using var state = new NoiseSymmetricState();
        var (ephemeral, ephemeralPublic) = NewKeyPair();
        var (staticKey, staticPublic) = NewKeyPair();

        // -> e
        state.MixHash(ephemeralPublic);
        byte[] payload1 = state.EncryptAndHash([]);
        await WriteMessageAsync(stream, [.. ephemeralPublic, .. payload1], cancellationToken).ConfigureAwait(false);

        // <- e, ee, s, es
        byte[] message2 = await ReadMessageAsync(stream, cancellationToken).ConfigureAwait(false);
        if (message2.Length < KeySize + KeySize + NoiseCipher.TagSize + NoiseCipher.TagSize)
        {
            throw new InvalidDataException($"Noise message 2 is {message2.Length} bytes, too short");
        }

        byte[] remoteEphemeral = message2[..KeySize];
        state.MixHash(remoteEphemeral);
        state.MixKey(Dh(ephemeral, remoteEphemeral));
        byte[] remoteStatic = state.DecryptAndHash(message2.AsSpan(KeySize, KeySize + NoiseCipher.TagSize));
        state.MixKey(Dh(ephemeral, remoteStatic));
        byte[] remotePayload = state.DecryptAndHash(message2.AsSpan((2 * KeySize) + NoiseCipher.TagSize));
        var (remoteKey, remotePeer, remoteMuxers) = VerifyPayload(remotePayload, remoteStatic);
        if (expected is not null && !expected.Equals(remotePeer))
        {
            throw new PeerIdMismatchException(expected, remotePeer);
        }

        // -> s, se
        byte[] encryptedStatic = state.EncryptAndHash(staticPublic);
        state.MixKey(Dh(staticKey, remoteEphemeral));
        byte[] encryptedPayload = state.EncryptAndHash(BuildPayload(identity, staticPublic, muxers));
        await WriteMessageAsync(stream, [.. encryptedStatic, .. encryptedPayload], cancellationToken).ConfigureAwait(false);

        var (send, receive) = state.Split();
        return new SecureSession(new NoiseStream(stream, send, receive), remotePeer, remoteKey, remoteMuxers);
    }

    public static async Task<SecureSession> RespondAsync(Stream stream, PrivateKey identity, IReadOnlyList<string> muxers, CancellationToken cancellationToken)
    {
        using var state = new NoiseSymmetricState();
        var (ephemeral, ephemeralPublic) = NewKeyPair();
        var (staticKey, staticPublic) = NewKeyPair();

        // -> e
        byte[] message1 = await ReadMessageAsync(stream, cancellationToken).ConfigureAwait(false);
        if (message1.Length < KeySize)
        {
            throw new InvalidDataException($"Noise message 1 is {message1.Length} bytes, too short");
        }

        byte[] remoteEphemeral = message1[..KeySize];
        state.MixHash(remoteEphemeral);
        state.DecryptAndHash(message1.AsSpan(KeySize));

        // <- e, ee, s, es
        state.MixHash(ephemeralPublic);
        state.MixKey(Dh(ephemeral, remoteEphemeral));
        byte[] encryptedStatic = state.EncryptAndHash(staticPublic);
        state.MixKey(Dh(staticKey, remoteEphemeral));
        byte[] encryptedPayload = state.EncryptAndHash(BuildPayload(identity, staticPublic, muxers));
        await WriteMessageAsync(stream, [.. ephemeralPublic, .. encryptedStatic, .. encryptedPayload], cancellationToken).ConfigureAwait(false);

        // -> s, se
        byte[] message3 = await ReadMessageAsync(stream, cancellationToken).ConfigureAwait(false);
        if (message3.Length < KeySize + NoiseCipher.TagSize + NoiseCipher.TagSize)
        {
            throw new InvalidDataException($"Noise message 3 is {message3.Length} bytes, too short");
        }

        byte[] remoteStatic = state.DecryptAndHash(message3.AsSpan(0, KeySize + NoiseCipher.TagSize));
        state.MixKey(Dh(ephemeral, remoteStatic));
        byte[] remotePayload = state.DecryptAndHash(message3.AsSpan(KeySize + NoiseCipher.TagSize));
        var (remoteKey, remotePeer, remoteMuxers) = VerifyPayload(remotePayload, remoteStatic);

        var (receive, send) = state.Split();
        return new SecureSession(new NoiseStream(stream, send, receive), remotePeer, remoteKey, remoteMuxers);
    }

    internal static byte[] BuildPayload(PrivateKey identity, ReadOnlySpan<byte> staticPublic, IReadOnlyList<string> muxers)
    {
        var payload = new NoiseHandshakePayload
        {
            IdentityKey = ByteString.CopyFrom(identity.PublicKey.ToProtobuf()),
            IdentitySig = ByteString.CopyFrom(identity.Sign([.. SignaturePrefix, .. staticPublic])),
        };
        if (muxers.Count > 0)
        {
            payload.Extensions = new NoiseExtensions();
            payload.Extensions.StreamMuxers.Add(muxers);
        }

        return payload.ToByteArray();
    }

    /// <summary>Checks the payload: a supported identity key whose signature binds the Noise static key.</summary>
    internal static (Crypto.PublicKey Key, PeerId Peer, IReadOnlyList<string> Muxers) VerifyPayload(ReadOnlySpan<byte> payload, ReadOnlySpan<byte> remoteStatic)
    {
        NoiseHandshakePayload message;
        Crypto.PublicKey key;
        try
        {
            message = NoiseHandshakePayload.Parser.ParseFrom(payload);
            key = Crypto.PublicKey.FromProtobuf(message.IdentityKey.Span);
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or NotSupportedException or InvalidDataException)
        {
            throw new InvalidDataException($"bad Noise handshake payload: {ex.Message}", ex);
        }

        if (!key.Verify([.. SignaturePrefix, .. remoteStatic], message.IdentitySig.Span))
        {
            throw new InvalidDataException("Noise handshake signature does not match the identity key");
        }

        IReadOnlyList<string> muxers = message.Extensions is null ? [] : [.. message.Extensions.StreamMuxers];
        return (key, key.ToPeerId(), muxers);
    }

    private static (byte[] Private, byte[] Public) NewKeyPair()
    {
        byte[] privateKey = RandomNumberGenerator.GetBytes(X25519.ScalarSize);
        byte[] publicKey = new byte[X25519.PointSize];
        X25519.ScalarMultBase(privateKey, 0, publicKey, 0);
        return (privateKey, publicKey);
    }

    private static byte[] Dh(byte[] privateKey, byte[] publicKey)
    {
        byte[] shared = new byte[X25519.PointSize];
        if (publicKey.Length != X25519.PointSize || !X25519.CalculateAgreement(privateKey, 0, publicKey, 0, shared, 0))
        {
            throw new InvalidDataException("Noise: the remote key gives no shared secret (low-order point)");
        }

        return shared;
    }

    private static async Task WriteMessageAsync(Stream stream, byte[] message, CancellationToken cancellationToken)
    {
        if (message.Length > ushort.MaxValue)
        {
            throw new InvalidOperationException("Noise handshake message too large");
        }

        byte[] framed = new byte[2 + message.Length];
        BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)message.Length);
        message.CopyTo(framed, 2);
        await stream.WriteAsync(framed, cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task<byte[]> ReadMessageAsync(Stream stream, CancellationToken cancellationToken)
    {
        byte[] length = new byte[2];
        await stream.ReadExactlyAsync(length, cancellationToken).ConfigureAwait(false);
        byte[] message = new byte[BinaryPrimitives.ReadUInt16BigEndian(length)];
        await stream.ReadExactlyAsync(message, cancellationToken).ConfigureAwait(false);
        return message;
    }
}
