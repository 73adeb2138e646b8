using System.Security.Cryptography;

namespace Spegel.Libp2p.Kademlia;

/// <summary>
/// Kademlia's XOR metric: a key's position is <c>sha256(key bytes)</c> (peer-ID multihash bytes for peers, the
/// multihash for provider keys); distances compare as 256-bit big-endian integers.
/// </summary>
public static class KeySpace
{
    public static byte[] Position(ReadOnlySpan<byte> key) => SHA256.HashData(key);

    /// <summary>Negative when <paramref name="a"/> is closer to <paramref name="target"/> than <paramref name="b"/>.</summary>
    public static int CompareDistance(ReadOnlySpan<byte> target, ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        for (int i = 0; i < target.Length; i++)
        {
            int da = a[i] ^ target[i];
            int db = b[i] ^ target[i];
            if (da != db)
            {
                return da < db ? -1 : 1;
            }
        }

        return 0;
    }

    /// <summary>Length of the common prefix in bits (the bucket index).</summary>
    public static int CommonPrefixLength(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        for (int i = 0; i < a.Length; i++)
        {
            int x = a[i] ^ b[i];
            if (x != 0)
            {
                return (i * 8) + System.Numerics.BitOperations.LeadingZeroCount((uint)x) - 24;
            }
        }

        return a.Length * 8;
    }
}
