namespace Spegel.Libp2p.Primitives;

/// <summary>
/// CIDv1: <c>varint(1) || varint(codec) || multihash</c>, printed as multibase base32 (<c>b…</c>). Spegel names
/// content by <c>CIDv1(raw, sha256(utf8(key)))</c>; only the multihash goes on the wire as the DHT key.
/// </summary>
public sealed record Cid(ulong Codec, Multihash Hash)
{
    public const ulong Raw = 0x55;
    public const ulong DagPb = 0x70;
    public const ulong Libp2pKey = 0x72;

    /// <summary>The CID Spegel derives from a content key such as <c>sha256:…</c> or <c>docker.io/library/nginx:1.27</c>.</summary>
    public static Cid ForKey(string key) => new(Raw, Multihash.Sha256(System.Text.Encoding.UTF8.GetBytes(key)));

    public byte[] ToBytes()
    {
        var bytes = new byte[Varint.Size(1) + Varint.Size(Codec) + Hash.Bytes.Length];
        int n = Varint.Write(bytes, 1);
        n += Varint.Write(bytes.AsSpan(n), Codec);
        Hash.Bytes.CopyTo(bytes.AsSpan(n));
        return bytes;
    }

    public override string ToString() => "b" + Multibase.ToBase32(ToBytes());

    public static bool TryParse(string text, out Cid? cid)
    {
        cid = null;
        if (text.Length < 2)
        {
            return false;
        }

        byte[] bytes;
        switch (text[0])
        {
            case 'b' or 'B':
                if (!Multibase.TryFromBase32(text.AsSpan(1), out bytes))
                {
                    return false;
                }

                break;
            case 'z':
                if (!Multibase.TryFromBase58(text.AsSpan(1), out bytes))
                {
                    return false;
                }

                break;
            case 'f' or 'F':
                try
                {
                    bytes = Convert.FromHexString(text.AsSpan(1));
                }
                catch (FormatException)
                {
                    return false;
                }

                break;
            default:
                return false;
        }

        return TryParseBytes(bytes, out cid);
    }

    public static bool TryParseBytes(ReadOnlySpan<byte> bytes, out Cid? cid)
    {
        cid = null;
        if (!Varint.TryRead(bytes, out ulong version, out int a) || version != 1 || !Varint.TryRead(bytes[a..], out ulong codec, out int b))
        {
            return false;
        }

        if (!Multihash.TryParse(bytes[(a + b)..], out var hash))
        {
            return false;
        }

        cid = new Cid(codec, hash!);
        return true;
    }
}
