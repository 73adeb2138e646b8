using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Spegel.Oci;

/// <summary>Where a node's peer key comes from (both ends of a request must have the same).</summary>
internal enum PeerKeySource
{
    /// <summary>The private network's pre-shared key: only admitted members hold it.</summary>
    SwarmKey,

    /// <summary>
    /// The registry's Basic-auth credentials (no swarm key): every node has them, so our nodes prove they do without
    /// ever sending them; the DHT still admits anyone, so a peer holding this key is not trusted for tags.
    /// </summary>
    BasicAuth,
}

/// <summary>
/// The key peer requests are signed with, derived (HKDF-SHA256) from a cluster secret under a label of its own, so a
/// proof never reveals the secret and a key for proofs is never a key for anything else (the swarm key encrypts the
/// libp2p transport; the Basic credentials authorise containerd).
/// </summary>
internal sealed class PeerKey
{
    private static readonly byte[] Salt = "spegel peer requests"u8.ToArray();
    private readonly byte[] _key;

    private PeerKey(byte[] key, PeerKeySource source)
    {
        _key = key;
        Source = source;
    }

    public PeerKeySource Source { get; }

    /// <summary>The key of a private network's 32-byte pre-shared key.</summary>
    public static PeerKey FromSwarmKey(ReadOnlySpan<byte> swarmKey) => new(Derive(swarmKey, "spegel/peer-proof/v1 swarm-key"u8), PeerKeySource.SwarmKey);

    /// <summary>The key of the registry's Basic-auth header value (<c>Basic base64(user:password)</c>).</summary>
    public static PeerKey FromBasicAuth(string headerValue) => new(Derive(Encoding.UTF8.GetBytes(headerValue), "spegel/peer-proof/v1 basic-auth"u8), PeerKeySource.BasicAuth);

    internal byte[] Mac(ReadOnlySpan<byte> message) => HMACSHA256.HashData(_key, message);

    private static byte[] Derive(ReadOnlySpan<byte> secret, ReadOnlySpan<byte> label)
    {
        byte[] key = new byte[32];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, secret, key, Salt, label);
        return key;
    }
}

/// <summary>
/// The value of <see cref="PeerProtocol.ProofHeader"/>: <c>v1.&lt;unix seconds&gt;.&lt;nonce&gt;.&lt;mac&gt;</c>, nonce
/// (16 bytes) and MAC (HMAC-SHA256, 32 bytes) in unpadded base64url. The MAC covers the method, the <c>Host</c> the
/// sender addressed (so a proof sent to one address is worthless at another), the request target exactly as sent, the
/// time and the nonce; the receiver checks the clock skew and remembers nonces (<c>Registry/PeerAuthenticator</c>).
/// </summary>
internal readonly record struct PeerProof(long UnixSeconds, string Nonce, byte[] Mac)
{
    public const int NonceBytes = 16;
    private const string Version = "v1";
    private const int NonceChars = 22; // 16 bytes, unpadded base64url
    private const int MacChars = 43;   // 32 bytes, unpadded base64url
    private const int MaxSecondsDigits = 12;

    /// <summary>The longest header value a proof can have; anything longer is refused before it is parsed.</summary>
    public const int MaxLength = 2 + 1 + MaxSecondsDigits + 1 + NonceChars + 1 + MacChars;

    /// <summary>A proof for a request to <paramref name="host"/> (<c>ip:port</c>, as in its Host header).</summary>
    public static string Create(PeerKey key, string method, string host, string pathAndQuery, DateTimeOffset now, ReadOnlySpan<byte> nonce)
    {
        if (nonce.Length != NonceBytes)
        {
            throw new ArgumentException($"a nonce is {NonceBytes} bytes", nameof(nonce));
        }

        long seconds = now.ToUnixTimeSeconds();
        string nonceText = Base64Url.EncodeToString(nonce);
        byte[] mac = key.Mac(Message(method, host, pathAndQuery, seconds, nonceText));
        return string.Create(CultureInfo.InvariantCulture, $"{Version}.{seconds}.{nonceText}.{Base64Url.EncodeToString(mac)}");
    }

    /// <summary>Parses a header value strictly: anything but the exact shape is refused (null).</summary>
    public static PeerProof? Parse(string? value)
    {
        if (value is null || value.Length > MaxLength)
        {
            return null;
        }

        string[] parts = value.Split('.');
        if (parts.Length != 4 || parts[0] != Version
            || parts[1].Length is 0 or > MaxSecondsDigits || !parts[1].All(char.IsAsciiDigit)
            || parts[2].Length != NonceChars || parts[3].Length != MacChars
            || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long seconds))
        {
            return null;
        }

        byte[] nonce = new byte[NonceBytes];
        byte[] mac = new byte[32];
        if (Base64Url.DecodeFromChars(parts[2], nonce, out _, out int nonceLength) != System.Buffers.OperationStatus.Done || nonceLength != NonceBytes
            || Base64Url.DecodeFromChars(parts[3], mac, out _, out int macLength) != System.Buffers.OperationStatus.Done || macLength != mac.Length
            || Base64Url.EncodeToString(nonce) != parts[2] || Base64Url.EncodeToString(mac) != parts[3])
        {
            // Re-encoding must give the same text: one proof has one spelling (no stray bits in the last character).
            return null;
        }

        return new PeerProof(seconds, parts[2], mac);
    }

    /// <summary>True when the MAC is <paramref name="key"/>'s over this request (compared in constant time).</summary>
    public bool Verify(PeerKey key, string method, string host, string pathAndQuery) =>
        CryptographicOperations.FixedTimeEquals(key.Mac(Message(method, host, pathAndQuery, UnixSeconds, Nonce)), Mac);

    private static byte[] Message(string method, string host, string pathAndQuery, long seconds, string nonce) =>
        Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"spegel-peer-proof/v1\n{method}\n{host}\n{pathAndQuery}\n{seconds}\n{nonce}"));
}
