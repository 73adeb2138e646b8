using System.Diagnostics.CodeAnalysis;

namespace Spegel.Oci;

/// <summary>An OCI content digest, <c>algorithm:hex</c>. Only sha256 and sha512 are accepted.</summary>
internal readonly record struct Digest
{
    private Digest(string algorithm, string hex)
    {
        Algorithm = algorithm;
        Hex = hex;
    }

    public string Algorithm { get; }

    public string Hex { get; }

    public override string ToString() => $"{Algorithm}:{Hex}";

    public static Digest Sha256(ReadOnlySpan<byte> hash) => new("sha256", Convert.ToHexStringLower(hash));

    /// <summary>A hash of this digest's algorithm, to check bytes as they stream by.</summary>
    public System.Security.Cryptography.IncrementalHash CreateHash() => System.Security.Cryptography.IncrementalHash.CreateHash(
        Algorithm == "sha512" ? System.Security.Cryptography.HashAlgorithmName.SHA512 : System.Security.Cryptography.HashAlgorithmName.SHA256);

    /// <summary>True when <paramref name="hash"/> (of this digest's algorithm) is this digest.</summary>
    public bool Matches(ReadOnlySpan<byte> hash) => Convert.ToHexStringLower(hash) == Hex;

    /// <summary>True when <paramref name="content"/> hashes to this digest.</summary>
    public bool MatchesContent(ReadOnlySpan<byte> content) => Matches(Algorithm == "sha512"
        ? System.Security.Cryptography.SHA512.HashData(content)
        : System.Security.Cryptography.SHA256.HashData(content));

    public static Digest Parse(string text) =>
        TryParse(text, out var digest, out var error) ? digest : throw new FormatException(error);

    /// <summary>
    /// Parses a digest strictly: a known algorithm, a colon, and exactly the right number of lowercase hex digits.
    /// The error names what is wrong so it can be returned to the client.
    /// </summary>
    public static bool TryParse(string? text, out Digest digest, [NotNullWhen(false)] out string? error)
    {
        digest = default;
        if (string.IsNullOrEmpty(text))
        {
            error = "digest is empty";
            return false;
        }

        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == text.Length - 1)
        {
            error = "digest must have the form algorithm:hex";
            return false;
        }

        string algorithm = text[..colon];
        string hex = text[(colon + 1)..];
        int expectedLength = algorithm switch
        {
            "sha256" => 64,
            "sha512" => 128,
            _ => -1,
        };
        if (expectedLength < 0)
        {
            error = IsAlgorithmSyntax(algorithm)
                ? $"unsupported digest algorithm '{Truncate(algorithm)}' (sha256 and sha512 are supported)"
                : "digest algorithm is malformed";
            return false;
        }

        if (hex.Length != expectedLength || !IsLowerHex(hex))
        {
            error = $"{algorithm} digest must be {expectedLength} lowercase hex characters";
            return false;
        }

        digest = new Digest(algorithm, hex);
        error = null;
        return true;
    }

    private static bool IsLowerHex(string s)
    {
        foreach (char c in s)
        {
            if (c is not (>= '0' and <= '9' or >= 'a' and <= 'f'))
            {
                return false;
            }
        }

        return true;
    }

    // OCI image spec: algorithm-component ::= [a-z0-9]+, joined by [+._-].
    private static bool IsAlgorithmSyntax(string s)
    {
        if (s.Length is 0 or > 32)
        {
            return false;
        }

        foreach (char c in s)
        {
            if (c is not (>= 'a' and <= 'z' or >= '0' and <= '9' or '+' or '.' or '_' or '-'))
            {
                return false;
            }
        }

        return true;
    }

    private static string Truncate(string s) => s.Length <= 32 ? s : s[..32] + "…";
}
