using System.Security.Cryptography;

namespace Spegel.Libp2p.Primitives;

/// <summary>A multihash: <c>varint(code) || varint(length) || digest</c>. Codes: identity 0x00, sha2-256 0x12.</summary>
public sealed class Multihash : IEquatable<Multihash>
{
    public const ulong Identity = 0x00;
    public const ulong Sha2_256 = 0x12;
    private readonly byte[] _bytes;

    private Multihash(ulong code, byte[] digest, byte[] bytes)
    {
        Code = code;
        Digest = digest;
        _bytes = bytes;
    }

    public ulong Code { get; }

    public byte[] Digest { get; }

    public ReadOnlySpan<byte> Bytes => _bytes;

    public byte[] ToArray() => (byte[])_bytes.Clone();

    public static Multihash Create(ulong code, ReadOnlySpan<byte> digest)
    {
        byte[] bytes = new byte[Varint.Size(code) + Varint.Size((ulong)digest.Length) + digest.Length];
        int n = Varint.Write(bytes, code);
        n += Varint.Write(bytes.AsSpan(n), (ulong)digest.Length);
        digest.CopyTo(bytes.AsSpan(n));
        return new Multihash(code, digest.ToArray(), bytes);
    }

    /// <summary>sha2-256 of <paramref name="data"/>, as a multihash.</summary>
    public static Multihash Sha256(ReadOnlySpan<byte> data) => Create(Sha2_256, SHA256.HashData(data));

    /// <summary>Parses exactly one multihash filling <paramref name="data"/>.</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, out Multihash? multihash)
    {
        multihash = null;
        if (!Varint.TryRead(data, out ulong code, out int a) || !Varint.TryRead(data[a..], out ulong length, out int b))
        {
            return false;
        }

        if (length > 1024 || (ulong)(data.Length - a - b) != length)
        {
            return false;
        }

        if (code == Sha2_256 && length != 32)
        {
            return false;
        }

        multihash = new Multihash(code, data[(a + b)..].ToArray(), data.ToArray());
        return true;
    }

    public bool Equals(Multihash? other) => other is not null && _bytes.AsSpan().SequenceEqual(other._bytes);

    public override bool Equals(object? obj) => Equals(obj as Multihash);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_bytes);
        return hash.ToHashCode();
    }

    public override string ToString() => Convert.ToHexStringLower(_bytes);
}
