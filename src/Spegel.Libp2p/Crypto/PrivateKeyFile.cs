using System.Text;
using Org.BouncyCastle.Asn1.EdEC;
using Org.BouncyCastle.Asn1.Pkcs;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;
using Spegel.Libp2p.Files;

namespace Spegel.Libp2p.Crypto;

/// <summary>
/// The node identity file <c>&lt;data-dir&gt;/private.key</c> as Spegel writes it: PEM <c>PRIVATE KEY</c> holding the
/// PKCS#8 DER of the Ed25519 key (RFC 8410, seed only), file mode 0600 (written through <see cref="AtomicFile"/>: never
/// readable by others, not even while it is written), folder 0755 when we create it.
/// </summary>
public static class PrivateKeyFile
{
    public const string FileName = "private.key";

    private const UnixFileMode FolderMode = AtomicFile.WorldReadable | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    // PKCS#8 for Ed25519 as Go's x509.MarshalPKCS8PrivateKey writes it: version 0, OID 1.3.101.112, OCTET STRING(OCTET STRING(seed)).
    private static readonly byte[] Pkcs8Prefix = Convert.FromHexString("302e020100300506032b657004220420");

    /// <summary>Loads the key from <paramref name="folder"/>, or creates and saves a new one.</summary>
    public static PrivateKey LoadOrCreate(string folder)
    {
        string path = Path.Combine(folder, FileName);
        if (File.Exists(path))
        {
            return Read(File.ReadAllText(path));
        }

        if (!Directory.Exists(folder))
        {
            // 0755 only for a folder we make (as Spegel's MkdirAll); a folder the operator made keeps its mode.
            Directory.CreateDirectory(folder, FolderMode);
        }

        var key = PrivateKey.Generate();
        AtomicFile.Write(path, Encoding.ASCII.GetBytes(Write(key)), AtomicFile.OwnerOnly);
        return key;
    }

    public static string Write(PrivateKey key)
    {
        byte[] der = [.. Pkcs8Prefix, .. key.Seed];
        string base64 = Convert.ToBase64String(der);
        return $"-----BEGIN PRIVATE KEY-----\n{base64}\n-----END PRIVATE KEY-----\n";
    }

    /// <exception cref="InvalidDataException">Not a PEM PKCS#8 Ed25519 key.</exception>
    public static PrivateKey Read(string pem)
    {
        const string begin = "-----BEGIN PRIVATE KEY-----";
        const string end = "-----END PRIVATE KEY-----";
        int a = pem.IndexOf(begin, StringComparison.Ordinal);
        int b = pem.IndexOf(end, StringComparison.Ordinal);
        if (a < 0 || b < a)
        {
            throw new InvalidDataException("the identity file is not a PEM PRIVATE KEY block");
        }

        byte[] der;
        try
        {
            der = Convert.FromBase64String(pem[(a + begin.Length)..b].Trim());
        }
        catch (FormatException ex)
        {
            throw new InvalidDataException("the identity file's PEM body is not base64", ex);
        }

        try
        {
            var info = PrivateKeyInfo.GetInstance(der);
            if (!info.PrivateKeyAlgorithm.Algorithm.Equals(EdECObjectIdentifiers.id_Ed25519))
            {
                throw new InvalidDataException($"the identity key must be Ed25519, not {info.PrivateKeyAlgorithm.Algorithm}");
            }

            var parameters = (Ed25519PrivateKeyParameters)PrivateKeyFactory.CreateKey(info);
            return new PrivateKey(parameters.GetEncoded());
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidCastException or IOException or InvalidOperationException)
        {
            throw new InvalidDataException($"the identity file is not a PKCS#8 Ed25519 key: {ex.Message}", ex);
        }
    }
}
