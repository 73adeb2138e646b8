using System.Diagnostics;
using Spegel.Libp2p.Crypto;

namespace Spegel.Libp2p.Tests.Crypto;

public sealed class PrivateKeyFileTests
{
    [Fact]
    public void CreatesOnceThenLoadsTheSameIdentityWithMode0600()
    {
        string folder = Path.Combine(Path.GetTempPath(), "spegel-key-" + Guid.NewGuid().ToString("N"), "data");
        try
        {
            var first = PrivateKeyFile.LoadOrCreate(folder);
            var second = PrivateKeyFile.LoadOrCreate(folder);
            Assert.Equal(first.PeerId, second.PeerId);
            string path = Path.Combine(folder, PrivateKeyFile.FileName);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            string pem = File.ReadAllText(path);
            Assert.StartsWith("-----BEGIN PRIVATE KEY-----\n", pem, StringComparison.Ordinal);

            // PKCS#8 of an Ed25519 seed, as Go's x509.MarshalPKCS8PrivateKey writes it (RFC 8410): 48 bytes.
            byte[] der = Convert.FromBase64String(pem.Split('\n')[1]);
            Assert.Equal(48, der.Length);
            Assert.Equal("302e020100300506032b657004220420", Convert.ToHexStringLower(der[..16]));
            Assert.Equal(first.Seed.ToArray(), der[16..]);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(folder)!, recursive: true);
        }
    }

    [Fact]
    public void ReadsAKeyWrittenByOpenSsl()
    {
        // A missing tool fails the test with the fix (as Tools.Require does): a silent return would pass without checking.
        if (!File.Exists("/usr/bin/openssl"))
        {
            throw new InvalidOperationException("missing /usr/bin/openssl: run ./test.sh (scripts/install-deps.sh installs it with apt-get)");
        }

        var info = new ProcessStartInfo("/usr/bin/openssl") { RedirectStandardOutput = true };
        foreach (string arg in new[] { "genpkey", "-algorithm", "ed25519" })
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        string pem = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        var key = PrivateKeyFile.Read(pem);
        Assert.Equal(PrivateKeyFile.Read(PrivateKeyFile.Write(key)).PeerId, key.PeerId);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----\n")]
    [InlineData("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")]
    [InlineData("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VuBCIEIA==\n-----END PRIVATE KEY-----\n")]
    [InlineData("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")]
    public void BadFilesAreClearErrors(string pem) => Assert.Throws<InvalidDataException>(() => PrivateKeyFile.Read(pem));

    [Fact]
    public void AnX25519KeyIsNotAnIdentity()
    {
        // openssl genpkey -algorithm x25519 writes the same shape with OID 1.3.101.110.
        const string x25519 = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VuBCIEIHBkbLb9U4Zq0y8QZ6dK0h3wq2s5b3oH4x6tWmGqJ1dB\n-----END PRIVATE KEY-----\n";
        var ex = Assert.Throws<InvalidDataException>(() => PrivateKeyFile.Read(x25519));
        Assert.Contains("Ed25519", ex.Message, StringComparison.Ordinal);
    }
}
