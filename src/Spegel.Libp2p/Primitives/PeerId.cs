namespace Spegel.Libp2p.Primitives;

/// <summary>
/// A peer ID: the multihash of the peer's serialized public key (identity multihash when ≤ 42 bytes, as for
/// Ed25519, else sha2-256). Text is base58btc (<c>12D3KooW…</c>); CIDv1 with codec libp2p-key is also accepted.
/// From the wire only the two forms real peers have are accepted: an Ed25519 key inline (38 bytes) or a sha2-256
/// (34 bytes); a 1 KiB identity "ID" would cost a quadratic base58 encoding and memory everywhere IDs are kept.
/// </summary>
public sealed class PeerId : IEquatable<PeerId>, IComparable<PeerId>
{
    /// <summary>Identity multihash (00 24) of an Ed25519 <c>PublicKey</c> protobuf (08 01 12 20 + 32 bytes).</summary>
    private static ReadOnlySpan<byte> Ed25519Prefix => [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];

    private const int Ed25519Length = 38;
    private const int Sha256Length = 34;
    private readonly byte[] _bytes;
    private string? _text;

    private PeerId(byte[] bytes)
    {
        _bytes = bytes;
    }

    public ReadOnlySpan<byte> Bytes => _bytes;

    public byte[] ToArray() => (byte[])_bytes.Clone();

    /// <summary>The ID of a public key given in its protobuf form (<c>Crypto.PublicKey.ToPeerId</c> is the usual way in).</summary>
    public static PeerId FromSerializedPublicKey(byte[] serialized)
    {
        var hash = serialized.Length <= 42 ? Multihash.Create(Multihash.Identity, serialized) : Multihash.Sha256(serialized);
        return new PeerId(hash.ToArray());
    }

    /// <summary>Reads a binary peer ID: an inline Ed25519 key or a sha2-256 multihash, nothing else.</summary>
    public static bool TryFromBytes(ReadOnlySpan<byte> bytes, out PeerId? id)
    {
        id = null;
        bool ed25519 = bytes.Length == Ed25519Length && bytes.StartsWith(Ed25519Prefix);
        bool sha256 = bytes.Length == Sha256Length && bytes[0] == (byte)Multihash.Sha2_256 && bytes[1] == 32;
        if (!ed25519 && !sha256)
        {
            return false;
        }

        id = new PeerId(bytes.ToArray());
        return true;
    }

    public static PeerId Parse(string text) => TryParse(text, out var id) ? id! : throw new FormatException($"'{text}' is not a peer ID");

    public static bool TryParse(string text, out PeerId? id)
    {
        id = null;
        if (string.IsNullOrEmpty(text) || text.Length > 200)
        {
            return false;
        }

        if (text.StartsWith("Qm", StringComparison.Ordinal) || text.StartsWith('1'))
        {
            return Multibase.TryFromBase58(text, out byte[] raw) && TryFromBytes(raw, out id);
        }

        if (Cid.TryParse(text, out var cid) && cid!.Codec == Cid.Libp2pKey)
        {
            return TryFromBytes(cid.Hash.Bytes, out id);
        }

        return false;
    }

    /// <summary>The CIDv1 (libp2p-key) text form, <c>bafz…</c>.</summary>
    public string ToCidString() => new Cid(Cid.Libp2pKey, Multihash.TryParse(_bytes, out var h) ? h! : throw new InvalidOperationException()).ToString();

    /// <summary>base58btc, computed once when first asked (most IDs are only compared).</summary>
    public override string ToString() => _text ??= Multibase.ToBase58(_bytes);

    public bool Equals(PeerId? other) => other is not null && _bytes.AsSpan().SequenceEqual(other._bytes);

    public override bool Equals(object? obj) => Equals(obj as PeerId);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_bytes);
        return hash.ToHashCode();
    }

    public int CompareTo(PeerId? other) => other is null ? 1 : _bytes.AsSpan().SequenceCompareTo(other._bytes);
}
