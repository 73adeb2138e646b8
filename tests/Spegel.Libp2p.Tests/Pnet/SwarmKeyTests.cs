using System.Text;
using Spegel.Libp2p.Pnet;
using Spegel.Libp2p.Tests.Primitives;

namespace Spegel.Libp2p.Tests.Pnet;

/// <summary>
/// The swarm key file (libp2p specs pnet/Private-Networks-PSK-V1.md): what go-libp2p and js-libp2p write is read,
/// and every way a file can be wrong is an <see cref="InvalidDataException"/> that says what is wrong.
/// </summary>
public sealed class SwarmKeyTests
{
    // The example of js-libp2p's @libp2p/pnet README.
    private const string Hex = "dffb7e3135399a8b1612b2aaca1c36a3a8ac2cd0cca51ceeb2ced87d308cac6d";
    private static readonly byte[] Key = Convert.FromHexString(Hex);

    [Theory]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n" + Hex)] // js-libp2p's generateKey: no final newline
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n" + Hex + "\n")] // IPFS's ipfs-swarm-key-gen
    [InlineData("/key/swarm/psk/1.0.0/\r\n/base16/\r\n" + Hex + "\r\n")] // saved on Windows
    [InlineData("\ufeff/key/swarm/psk/1.0.0/\n/base16/\n" + Hex + "\n")] // with a byte order mark
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n  " + Hex + " \n\n")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\nDFFB7E3135399A8B1612B2AACA1C36A3A8AC2CD0CCA51CEEB2CED87D308CAC6D\n")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base64/\n3/t+MTU5mosWErKqyhw2o6isLNDMpRzuss7YfTCMrG0=\n")] // go-libp2p reads base64 too
    public void ReadsTheFilesOthersWrite(string file)
    {
        Assert.Equal(Key, SwarmKey.Parse(Encoding.UTF8.GetBytes(file)).Bytes.ToArray());
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n")]
    [InlineData("\r\n")]
    public void ReadsBinaryKeysWhateverTheirBytes(string after)
    {
        // Newlines inside a binary key are key bytes, not line ends.
        byte[] key = [.. Enumerable.Range(0, 32).Select(i => (byte)(i % 3 == 0 ? '\n' : i))];
        byte[] file = [.. "/key/swarm/psk/1.0.0/\n/bin/\n"u8, .. key, .. Encoding.ASCII.GetBytes(after)];
        Assert.Equal(key, SwarmKey.Parse(file).Bytes.ToArray());
    }

    [Fact]
    public void WritesWhatItReadsAndNeverPrintsTheKey()
    {
        var key = SwarmKey.Generate();
        string text = key.ToFileText();
        Assert.Matches("^/key/swarm/psk/1\\.0\\.0/\n/base16/\n[0-9a-f]{64}\n$", text);
        Assert.Equal(key.Bytes.ToArray(), SwarmKey.Parse(Encoding.ASCII.GetBytes(text)).Bytes.ToArray());
        Assert.DoesNotContain(Convert.ToHexStringLower(key.Bytes), key.ToString());
        Assert.Matches("^[0-9a-f]{16}$", key.Fingerprint);
        Assert.NotEqual(key.Fingerprint, SwarmKey.Generate().Fingerprint);
        Assert.Equal(new SwarmKey(Key).Fingerprint, SwarmKey.Parse(Encoding.ASCII.GetBytes($"/key/swarm/psk/1.0.0/\n/base16/\n{Hex}")).Fingerprint);
    }

    [Theory]
    [InlineData("", "the file is empty")]
    [InlineData("/key/swarm/psk/1.0.0/", "the first line does not end")]
    [InlineData("/key/swarm/psk/2.0.0/\n/base16/\n" + Hex, "the first line is '/key/swarm/psk/2.0.0/', expected /key/swarm/psk/1.0.0/")]
    [InlineData(Hex + "\n", "the first line is 'dffb7e3135399a8b1612b2aaca1c36a3a8ac2cd0…', expected /key/swarm/psk/1.0.0/")]
    [InlineData("/base16/\n" + Hex + "\n", "the first line is '/base16/'")]
    [InlineData("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n", "the first line is '-----BEGIN PRIVATE KEY-----'")]
    [InlineData("/key/swarm/psk/1.0.0/\n" + Hex + "\n", "the second line is 'dffb7e3135399a8b1612b2aaca1c36a3a8ac2cd0…', expected the key's encoding: /base16/")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/", "the second line does not end")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base58btc/\nabc\n", "the second line is '/base58btc/'")]
    [InlineData("/key/swarm/psk/1.0.0/\n/BASE16/\n" + Hex, "the second line is '/BASE16/'")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n", "the key is missing after /base16/")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n\n\n", "the key is missing after /base16/")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\ndffb7e31", "the key has 8 hex characters, expected 64 (32 bytes)")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n" + Hex + "0", "the key has 65 hex characters, expected 64")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n" + Hex + Hex, "the key has 128 hex characters, expected 64")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\nzffb7e3135399a8b1612b2aaca1c36a3a8ac2cd0cca51ceeb2ced87d308cac6d", "the key is not hex: 'z' at character 1")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n0x" + Hex, "the key is not hex: 'x' at character 2")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\ndffb7e3135399a8b1612b2aaca1c36a3 a8ac2cd0cca51ceeb2ced87d308cac6d", "has a space at character 33")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\ndffb7e3135399a8b1612b2aaca1c36a3\na8ac2cd0cca51ceeb2ced87d308cac6d\n", "has a second line at character 33")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n" + Hex + "\n# comment\n", "has a second line at character 65")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\ndffb7e3135399a8b1612b2aaca1c36a3\u00e9", "has byte 0xc3 at character 33")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base64/\n3/t+MTU5mosWErKqyhw2o6isLNDMpRzuss7YfTCM\n", "the key decodes to 30 bytes, expected 32")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base64/\n3/t+MTU5mosWErKqyhw2o6isLNDMpRzuss7YfTCMrG0\n", "the key is not base64")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base64/\n" + Hex + "\n", "the key decodes to 48 bytes, expected 32")]
    [InlineData("/key/swarm/psk/1.0.0/\n/bin/\nshort\n", "the key after /bin/ is 6 bytes, expected 32")]
    [InlineData("/key/swarm/psk/1.0.0/\n/bin/\n" + Hex + "\n", "the key after /bin/ is 65 bytes, expected 32 (and at most a newline after them)")]
    public void MalformedFilesSayWhatIsWrong(string file, string message)
    {
        var error = Assert.Throws<InvalidDataException>(() => SwarmKey.Parse(Encoding.UTF8.GetBytes(file)));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Hex, error.Message, StringComparison.Ordinal); // a near-miss key is not echoed whole
    }

    [Fact]
    public void ControlBytesInAHeaderArePrintedEscaped()
    {
        var error = Assert.Throws<InvalidDataException>(() => SwarmKey.Parse("\u0001/key/swarm/psk/1.0.0/\u001b[2J\n/base16/\n"u8));
        Assert.Contains("'\\x01/key/swarm/psk/1.0.0/\\x1b[2J'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadRefusesLargeFilesAndReadsSmallOnes()
    {
        string path = Path.Combine(Path.GetTempPath(), $"swarm-{Guid.NewGuid():N}.key");
        try
        {
            File.WriteAllText(path, $"/key/swarm/psk/1.0.0/\n/base16/\n{Hex}\n");
            Assert.Equal(Key, SwarmKey.Load(path).Bytes.ToArray());

            // A large file is the wrong file (a certificate bundle, a tarball): refused before it is parsed.
            File.WriteAllText(path, $"/key/swarm/psk/1.0.0/\n/base16/\n{Hex}\n" + new string('\n', SwarmKey.MaxFileBytes));
            Assert.Contains("under 1024 bytes", Assert.Throws<InvalidDataException>(() => SwarmKey.Load(path)).Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }

        Assert.Throws<FileNotFoundException>(() => SwarmKey.Load(path));
    }

    [Fact]
    public void RandomAndMutatedFilesAreAKeyOrAnInvalidDataException()
    {
        var random = new Random(31);
        byte[][] seeds =
        [
            Encoding.ASCII.GetBytes($"/key/swarm/psk/1.0.0/\n/base16/\n{Hex}\n"),
            Encoding.ASCII.GetBytes("/key/swarm/psk/1.0.0/\r\n/base64/\r\n3/t+MTU5mosWErKqyhw2o6isLNDMpRzuss7YfTCMrG0=\r\n"),
            [.. "/key/swarm/psk/1.0.0/\n/bin/\n"u8, .. Key],
        ];
        int parsed = 0;
        for (int i = 0; i < 20_000; i++)
        {
            byte[] file = i % 4 == 0 ? MalformedInputTests.RandomBytes(random, 120) : MalformedInputTests.Mutate(seeds[random.Next(seeds.Length)], random);
            try
            {
                Assert.Equal(SwarmKey.Length, SwarmKey.Parse(file).Bytes.Length);
                parsed++;
            }
            catch (InvalidDataException ex)
            {
                Assert.False(string.IsNullOrWhiteSpace(ex.Message));
            }
        }

        // Seeded: the same count on every run. Some mutations keep a valid file (a changed hex digit, a binary byte).
        Assert.InRange(parsed, 100, 19_000);
    }
}
