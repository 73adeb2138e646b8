using System.Security.Cryptography;
using System.Text;

namespace Spegel.Libp2p.Pnet;

/// <summary>
/// The pre-shared key of a libp2p private network (libp2p specs, pnet/Private-Networks-PSK-V1.md): 32 bytes every
/// member holds. Its file is a path-based multicodec: the line <c>/key/swarm/psk/1.0.0/</c>, then the encoding
/// of the rest (<c>/base16/</c>, <c>/base64/</c> or <c>/bin/</c>), then the key, as go-libp2p and js-libp2p
/// (<c>@libp2p/pnet</c>) read it; js-libp2p and IPFS write <c>/base16/</c> with 64 hex characters.
/// </summary>
public sealed class SwarmKey
{
    public const int Length = 32;
    public const string Codec = "/key/swarm/psk/1.0.0/";
    public const string Base16 = "/base16/";
    public const string Base64 = "/base64/";
    public const string Binary = "/bin/";

    /// <summary>A key file is about 90 bytes; anything much larger is the wrong file.</summary>
    public const int MaxFileBytes = 1024;

    private static readonly byte[] Utf8Bom = [0xef, 0xbb, 0xbf];
    private readonly byte[] _key;

    public SwarmKey(ReadOnlySpan<byte> key)
    {
        if (key.Length != Length)
        {
            throw new ArgumentException($"a swarm key is {Length} bytes, not {key.Length}", nameof(key));
        }

        _key = key.ToArray();
    }

    /// <summary>The raw key (32 bytes).</summary>
    public ReadOnlySpan<byte> Bytes => _key;

    /// <summary>
    /// Says which network a node is in without saying the key: the first 8 bytes of SHA-256 over a label and the
    /// key, in hex, so operators can compare nodes' logs. Domain-separated, so it is not a hash anything else derives.
    /// </summary>
    public string Fingerprint
    {
        get
        {
            byte[] input = [.. "spegel swarm key fingerprint\n"u8, .. _key];
            return Convert.ToHexStringLower(SHA256.HashData(input).AsSpan(0, 8));
        }
    }

    public static SwarmKey Generate() => new(RandomNumberGenerator.GetBytes(Length));

    /// <summary>The file as js-libp2p's <c>generateKey</c> and IPFS write it (with a final newline).</summary>
    public string ToFileText() => $"{Codec}\n{Base16}\n{Convert.ToHexStringLower(_key)}\n";

    /// <summary>Never the key itself: logs and exception messages may print this.</summary>
    public override string ToString() => $"swarm key {Fingerprint}";

    /// <summary>Reads and parses a key file.</summary>
    /// <exception cref="InvalidDataException">Not a swarm key file; the message says what is wrong.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    /// <exception cref="UnauthorizedAccessException">The file cannot be read.</exception>
    public static SwarmKey Load(string path)
    {
        using var file = File.OpenRead(path);
        byte[] buffer = new byte[MaxFileBytes + 1];
        int length = 0;
        int n;
        while (length < buffer.Length && (n = file.Read(buffer, length, buffer.Length - length)) > 0)
        {
            length += n;
        }

        if (length > MaxFileBytes)
        {
            throw new InvalidDataException($"a swarm key file is under {MaxFileBytes} bytes; this one is larger (the wrong file?)");
        }

        return Parse(buffer.AsSpan(0, length));
    }

    /// <summary>Parses the contents of a key file. Lines may end in LF or CRLF; a UTF-8 byte order mark is ignored.</summary>
    /// <exception cref="InvalidDataException">Not a swarm key file; the message says what is wrong.</exception>
    public static SwarmKey Parse(ReadOnlySpan<byte> file)
    {
        if (file.StartsWith(Utf8Bom))
        {
            file = file[Utf8Bom.Length..];
        }

        if (file.IsEmpty)
        {
            throw new InvalidDataException($"the file is empty; expected {Codec}, then {Base16}, then 64 hex characters, each on its own line");
        }

        var header = NextLine(ref file, "first");
        if (!header.SequenceEqual(Encoding.ASCII.GetBytes(Codec)))
        {
            throw new InvalidDataException($"the first line is '{Printable(header)}', expected {Codec} (the header of a libp2p swarm key file)");
        }

        var encoding = NextLine(ref file, "second");
        string name = Encoding.ASCII.GetString(encoding);
        byte[] key = name switch
        {
            Base16 => DecodeBase16(Text(file, name)),
            Base64 => DecodeBase64(Text(file, name)),
            Binary => DecodeBinary(file),
            _ => throw new InvalidDataException($"the second line is '{Printable(encoding)}', expected the key's encoding: {Base16} (or {Base64}, {Binary})"),
        };
        return new SwarmKey(key);
    }

    /// <summary>The next line without its LF or CRLF; the rest of <paramref name="file"/> follows it.</summary>
    private static ReadOnlySpan<byte> NextLine(ref ReadOnlySpan<byte> file, string which)
    {
        int end = file.IndexOf((byte)'\n');
        if (end < 0)
        {
            throw new InvalidDataException($"the {which} line does not end: expected {Codec}, then {Base16}, then 64 hex characters, each on its own line");
        }

        var line = file[..end];
        file = file[(end + 1)..];
        return line.EndsWith("\r"u8) ? line[..^1] : line;
    }

    /// <summary>The key line of a text encoding: surrounding whitespace (the final newline) is not part of it.</summary>
    private static string Text(ReadOnlySpan<byte> rest, string encoding)
    {
        var trimmed = rest.Trim(" \t\r\n"u8);
        if (trimmed.IsEmpty)
        {
            throw new InvalidDataException($"the key is missing after {encoding}");
        }

        int bad = trimmed.IndexOfAnyExceptInRange((byte)0x21, (byte)0x7e);
        if (bad >= 0)
        {
            string what = trimmed[bad] switch
            {
                (byte)'\n' or (byte)'\r' => "a second line",
                (byte)' ' or (byte)'\t' => "a space",
                var b => $"byte 0x{b:x2}",
            };
            throw new InvalidDataException($"the key after {encoding} has {what} at character {bad + 1}: expected one line");
        }

        return Encoding.ASCII.GetString(trimmed);
    }

    private static byte[] DecodeBase16(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            if (!char.IsAsciiHexDigit(text[i]))
            {
                throw new InvalidDataException($"the key is not hex: '{text[i]}' at character {i + 1} (expected 0-9, a-f)");
            }
        }

        if (text.Length != 2 * Length)
        {
            throw new InvalidDataException($"the key has {text.Length} hex characters, expected {2 * Length} ({Length} bytes)");
        }

        return Convert.FromHexString(text);
    }

    private static byte[] DecodeBase64(string text)
    {
        byte[] buffer = new byte[text.Length];
        if (!Convert.TryFromBase64String(text, buffer, out int written))
        {
            throw new InvalidDataException("the key is not base64 (standard alphabet, with padding)");
        }

        if (written != Length)
        {
            throw new InvalidDataException($"the key decodes to {written} bytes, expected {Length}");
        }

        return buffer[..written];
    }

    /// <summary>32 raw bytes, optionally followed by one newline (the bytes themselves may be anything, newlines included).</summary>
    private static byte[] DecodeBinary(ReadOnlySpan<byte> rest)
    {
        var extra = rest.Length >= Length ? rest[Length..] : [];
        if (rest.Length < Length || !(extra.IsEmpty || extra.SequenceEqual("\n"u8) || extra.SequenceEqual("\r\n"u8)))
        {
            throw new InvalidDataException($"the key after {Binary} is {rest.Length} bytes, expected {Length} (and at most a newline after them)");
        }

        return rest[..Length].ToArray();
    }

    /// <summary>What a line holds, printable and short: it names the mistake without flooding the message.</summary>
    private static string Printable(ReadOnlySpan<byte> line)
    {
        const int max = 40;
        var text = new StringBuilder();
        foreach (byte b in line[..Math.Min(line.Length, max)])
        {
            text.Append(b is >= 0x20 and < 0x7f ? (char)b : $"\\x{b:x2}");
        }

        return line.Length > max ? text.Append('…').ToString() : text.ToString();
    }
}
