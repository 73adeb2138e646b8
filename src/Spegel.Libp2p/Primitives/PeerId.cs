namespace Spegel.Libp2p.Primitives;

/// <summary>
/// A peer ID: the multihash of the peer's serialized public key (identity multihash when ≤ 42 bytes, as for
/// Ed25519, else sha2-256). Text is base58btc (<c>12D3KooW…</c>); CIDv1 with codec libp2p-key is also accepted.
/// </summary>
public sealed class PeerId : IEquatable<PeerId>, IComparable<PeerId>
{
    private readonly byte[] _bytes;
    private readonly string _text;

    private PeerId(byte[] bytes)
    {
        _bytes = bytes;
        _text = Multibase.ToBase58(bytes);
    }

    public ReadOnlySpan<byte> Bytes => _bytes;

    public byte[] ToArray() => (byte[])_bytes.Clone();

    /// <summary>The ID of a public key given in its protobuf form (<c>Crypto.PublicKey.ToPeerId</c> is the usual way in).</summary>
    public static PeerId FromSerializedPublicKey(byte[] serialized)
    {
        var hash = serialized.Length <= 42 ? Multihash.Create(Multihash.Identity, serialized) : Multihash.Sha256(serialized);
        return new PeerId(hash.ToArray());
    }

    public static bool TryFromBytes(ReadOnlySpan<byte> bytes, out PeerId? id)
    {
        id = null;
        if (!Multihash.TryParse(bytes, out var hash) || hash!.Code is not (Multihash.Identity or Multihash.Sha2_256))
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

    public override string ToString() => _text;

    public bool Equals(PeerId? other) => other is not null && _bytes.AsSpan().SequenceEqual(other._bytes);

    public override bool Equals(object? obj) => Equals(obj as PeerId);

    public override int GetHashCode() => _text.GetHashCode(StringComparison.Ordinal);

    public int CompareTo(PeerId? other) => other is null ? 1 : _bytes.AsSpan().SequenceCompareTo(other._bytes);
}
