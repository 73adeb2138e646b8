using System.Security.Cryptography;
using Google.Protobuf;
using Org.BouncyCastle.Math.EC.Rfc8032;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protos;

namespace Spegel.Libp2p.Crypto;

/// <summary>A libp2p public key. Only Ed25519 is supported (what Spegel, go and js use by default).</summary>
public sealed class PublicKey : IEquatable<PublicKey>
{
    private readonly byte[] _key;

    public PublicKey(ReadOnlySpan<byte> ed25519)
    {
        if (ed25519.Length != Ed25519.PublicKeySize)
        {
            throw new InvalidDataException($"an Ed25519 public key is {Ed25519.PublicKeySize} bytes, not {ed25519.Length}");
        }

        _key = ed25519.ToArray();
    }

    public ReadOnlySpan<byte> Raw => _key;

    /// <summary>The <c>PublicKey</c> protobuf: <c>08 01 12 20 &lt;32 bytes&gt;</c>.</summary>
    public byte[] ToProtobuf() => new Protos.PublicKeyProto { Type = KeyType.Ed25519, Data = ByteString.CopyFrom(_key) }.ToByteArray();

    /// <exception cref="NotSupportedException">A key type other than Ed25519.</exception>
    public static PublicKey FromProtobuf(ReadOnlySpan<byte> protobuf)
    {
        var message = Protos.PublicKeyProto.Parser.ParseFrom(protobuf);
        if (message.Type != KeyType.Ed25519)
        {
            throw new NotSupportedException($"key type {message.Type} is not supported (only Ed25519)");
        }

        return new PublicKey(message.Data.Span);
    }

    public bool Verify(ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature) =>
        signature.Length == Ed25519.SignatureSize && Ed25519.Verify(signature.ToArray(), 0, _key, 0, message.ToArray(), 0, message.Length);

    public PeerId ToPeerId() => PeerId.FromSerializedPublicKey(ToProtobuf());

    public bool Equals(PublicKey? other) => other is not null && _key.AsSpan().SequenceEqual(other._key);

    public override bool Equals(object? obj) => Equals(obj as PublicKey);

    public override int GetHashCode() => BitConverter.ToInt32(_key, 0);
}

/// <summary>An Ed25519 identity: the node's private key.</summary>
public sealed class PrivateKey
{
    private readonly byte[] _seed;

    public PrivateKey(ReadOnlySpan<byte> seed)
    {
        if (seed.Length != Ed25519.SecretKeySize)
        {
            throw new InvalidDataException($"an Ed25519 seed is {Ed25519.SecretKeySize} bytes, not {seed.Length}");
        }

        _seed = seed.ToArray();
        byte[] pub = new byte[Ed25519.PublicKeySize];
        Ed25519.GeneratePublicKey(_seed, 0, pub, 0);
        PublicKey = new PublicKey(pub);
    }

    public PublicKey PublicKey { get; }

    public PeerId PeerId => PublicKey.ToPeerId();

    public ReadOnlySpan<byte> Seed => _seed;

    public static PrivateKey Generate() => new(RandomNumberGenerator.GetBytes(Ed25519.SecretKeySize));

    public byte[] Sign(ReadOnlySpan<byte> message)
    {
        byte[] signature = new byte[Ed25519.SignatureSize];
        Ed25519.Sign(_seed, 0, message.ToArray(), 0, message.Length, signature, 0);
        return signature;
    }

    /// <summary>The <c>PrivateKey</c> protobuf (<c>08 01 12 40 seed||pub</c>).</summary>
    public byte[] ToProtobuf() => new Protos.PrivateKeyProto { Type = KeyType.Ed25519, Data = ByteString.CopyFrom([.. _seed, .. PublicKey.Raw]) }.ToByteArray();

    /// <summary>Reads a <c>PrivateKey</c> protobuf (64-byte seed||pub, or the old 96-byte form).</summary>
    public static PrivateKey FromProtobuf(ReadOnlySpan<byte> protobuf)
    {
        var message = Protos.PrivateKeyProto.Parser.ParseFrom(protobuf);
        if (message.Type != KeyType.Ed25519 || message.Data.Length is not (64 or 96))
        {
            throw new NotSupportedException("only Ed25519 private keys are supported");
        }

        return new PrivateKey(message.Data.Span[..32]);
    }
}
