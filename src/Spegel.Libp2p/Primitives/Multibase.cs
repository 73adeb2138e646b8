using System.Numerics;

namespace Spegel.Libp2p.Primitives;

/// <summary>base32 (RFC 4648 lower case, no padding) and base58btc, the multibase encodings libp2p uses.</summary>
public static class Multibase
{
    private const string Base32Alphabet = "abcdefghijklmnopqrstuvwxyz234567";
    private const string Base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

    public static string ToBase32(ReadOnlySpan<byte> data)
    {
        var chars = new char[((data.Length * 8) + 4) / 5];
        int bits = 0, value = 0, index = 0;
        foreach (byte b in data)
        {
            value = (value << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                chars[index++] = Base32Alphabet[(value >> (bits - 5)) & 31];
                bits -= 5;
            }
        }

        if (bits > 0)
        {
            chars[index++] = Base32Alphabet[(value << (5 - bits)) & 31];
        }

        return new string(chars, 0, index);
    }

    public static bool TryFromBase32(ReadOnlySpan<char> text, out byte[] data)
    {
        var result = new List<byte>(text.Length * 5 / 8);
        int bits = 0, value = 0;
        foreach (char c in text)
        {
            int v = Base32Alphabet.IndexOf(char.ToLowerInvariant(c), StringComparison.Ordinal);
            if (v < 0)
            {
                data = [];
                return false;
            }

            value = (value << 5) | v;
            bits += 5;
            if (bits >= 8)
            {
                result.Add((byte)(value >> (bits - 8)));
                bits -= 8;
            }

            value &= (1 << bits) - 1;
        }

        data = [.. result];
        return bits < 5 && value == 0;
    }

    public static string ToBase58(ReadOnlySpan<byte> data)
    {
        int zeros = 0;
        while (zeros < data.Length && data[zeros] == 0)
        {
            zeros++;
        }

        var number = new BigInteger(data, isUnsigned: true, isBigEndian: true);
        var chars = new List<char>();
        while (number > 0)
        {
            number = BigInteger.DivRem(number, 58, out var remainder);
            chars.Add(Base58Alphabet[(int)remainder]);
        }

        chars.AddRange(Enumerable.Repeat('1', zeros));
        chars.Reverse();
        return new string([.. chars]);
    }

    public static bool TryFromBase58(ReadOnlySpan<char> text, out byte[] data)
    {
        data = [];
        if (text.Length > 256)
        {
            return false;
        }

        int zeros = 0;
        while (zeros < text.Length && text[zeros] == '1')
        {
            zeros++;
        }

        BigInteger number = 0;
        foreach (char c in text)
        {
            int v = Base58Alphabet.IndexOf(c, StringComparison.Ordinal);
            if (v < 0)
            {
                return false;
            }

            number = (number * 58) + v;
        }

        byte[] body = number.IsZero ? [] : number.ToByteArray(isUnsigned: true, isBigEndian: true);
        data = [.. new byte[zeros], .. body];
        return true;
    }
}
