using System.Text;
using Spegel.Oci;

namespace Spegel.Tests.Oci;

/// <summary>The proof a peer request carries (<see cref="PeerProof"/>): its MAC's coverage, its keys, and a strict parser.</summary>
public sealed class PeerProofTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly byte[] Nonce = [.. Enumerable.Range(1, 16).Select(i => (byte)i)];
    private static readonly PeerKey Key = PeerKey.FromSwarmKey(new byte[32]);
    private const string Target = "/v2/library/app/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000?ns=docker.io";

    [Fact]
    public void AProofVerifiesForExactlyTheRequestItWasMadeFor()
    {
        string header = PeerProof.Create(Key, "GET", "10.0.0.5:5000", Target, Now, Nonce);
        var proof = PeerProof.Parse(header)!.Value;
        Assert.Equal(Now.ToUnixTimeSeconds(), proof.UnixSeconds);
        Assert.True(proof.Verify(Key, "GET", "10.0.0.5:5000", Target));

        Assert.False(proof.Verify(Key, "HEAD", "10.0.0.5:5000", Target));
        Assert.False(proof.Verify(Key, "GET", "10.0.0.6:5000", Target));
        Assert.False(proof.Verify(Key, "GET", "10.0.0.5:5001", Target));
        Assert.False(proof.Verify(Key, "GET", "10.0.0.5:5000", Target.Replace("docker.io", "ghcr.io", StringComparison.Ordinal)));
        Assert.False(proof.Verify(PeerKey.FromSwarmKey(Enumerable.Repeat((byte)1, 32).ToArray()), "GET", "10.0.0.5:5000", Target));

        // Another time or nonce under the same MAC is another message.
        string[] parts = header.Split('.');
        Assert.False(PeerProof.Parse($"v1.{proof.UnixSeconds + 1}.{parts[2]}.{parts[3]}")!.Value.Verify(Key, "GET", "10.0.0.5:5000", Target));
        Assert.NotEqual(header, PeerProof.Create(Key, "GET", "10.0.0.5:5000", Target, Now, new byte[16]));
    }

    [Fact]
    public void KeysAreDerivedUnderTheirOwnLabelsAndNeverAreTheSecret()
    {
        byte[] secret = Encoding.UTF8.GetBytes("Basic aGVsbG86d29ybGQ=").Concat(new byte[10]).Take(32).ToArray();
        string header = PeerProof.Create(PeerKey.FromSwarmKey(secret), "GET", "h:1", "/v2/", Now, Nonce);
        var proof = PeerProof.Parse(header)!.Value;
        Assert.True(proof.Verify(PeerKey.FromSwarmKey(secret), "GET", "h:1", "/v2/"));
        Assert.False(proof.Verify(PeerKey.FromBasicAuth(Encoding.UTF8.GetString(secret)), "GET", "h:1", "/v2/"));
        Assert.Equal(PeerKeySource.SwarmKey, PeerKey.FromSwarmKey(secret).Source);
        Assert.Equal(PeerKeySource.BasicAuth, PeerKey.FromBasicAuth("Basic x").Source);
        Assert.DoesNotContain("aGVsbG8", header, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("v1")]
    [InlineData("v1...")]
    [InlineData("v2.1764590400.AQIDBAUGBwgJCgsMDQ4PEA.{mac}")]
    [InlineData("V1.1764590400.AQIDBAUGBwgJCgsMDQ4PEA.{mac}")]
    [InlineData("v1.-1764590400.AQIDBAUGBwgJCgsMDQ4PEA.{mac}")]
    [InlineData("v1.+1764590400.AQIDBAUGBwgJCgsMDQ4PEA.{mac}")]
    [InlineData("v1. 1764590400.AQIDBAUGBwgJCgsMDQ4PEA.{mac}")]
    [InlineData("v1.1764590400 .AQIDBAUGBwgJCgsMDQ4PEA.{mac}")]
    [InlineData("v1.17645904001764590400.AQIDBAUGBwgJCgsMDQ4PEA.{mac}")]
    [InlineData("v1.١٧٦٤٥٩٠٤٠٠.AQIDBAUGBwgJCgsMDQ4PEA.{mac}")]
    [InlineData("v1.1764590400.AQIDBAUGBwgJCgsMDQ4PEA==.{mac}")]
    [InlineData("v1.1764590400.AQIDBAUGBwgJCgsMDQ4PE.{mac}")]
    [InlineData("v1.1764590400.AQIDBAUGBwgJCgsMDQ4PEB.{mac}")] // stray bits in the last character: not canonical
    [InlineData("v1.1764590400.AQIDBAUGBwgJCgsMDQ4P+A.{mac}")]
    [InlineData("v1.1764590400.AQIDBAUGBwgJCgsMDQ4PEA.{mac}.")]
    [InlineData("v1.1764590400.AQIDBAUGBwgJCgsMDQ4PEA.{mac}x")]
    [InlineData("v1.1764590400.AQIDBAUGBwgJCgsMDQ4PEA.{mac}=")]
    [InlineData("v1.1764590400.AQIDBAUGBwgJCgsMDQ4PEA")]
    [InlineData("v1.1764590400.AQIDBAUGBwgJCgsMDQ4PEA.{mac},v1.1764590400.AQIDBAUGBwgJCgsMDQ4PEA.{mac}")]
    public void MalformedProofsAreRefused(string? value)
    {
        string mac = PeerProof.Create(Key, "GET", "h:1", "/v2/", Now, Nonce).Split('.')[3];
        Assert.Null(PeerProof.Parse(value?.Replace("{mac}", mac, StringComparison.Ordinal)));
    }

    [Fact]
    public void TheWellFormedProofOfTheMalformedCasesParses()
    {
        // The positive control of the cases above: only their one defect makes them fail.
        string header = PeerProof.Create(Key, "GET", "h:1", "/v2/", Now, Nonce);
        Assert.Equal($"v1.{Now.ToUnixTimeSeconds()}.AQIDBAUGBwgJCgsMDQ4PEA.{header.Split('.')[3]}", header);
        Assert.NotNull(PeerProof.Parse(header));
        Assert.True(header.Length <= PeerProof.MaxLength);
    }

    [Fact]
    public void RandomBytesNeverParseAndNeverThrow()
    {
        var random = new Random(11);
        for (int i = 0; i < 5_000; i++)
        {
            byte[] bytes = new byte[random.Next(0, 120)];
            random.NextBytes(bytes);
            string text = random.Next(2) == 0 ? Encoding.Latin1.GetString(bytes) : "v1." + Convert.ToBase64String(bytes).Replace('/', '.');
            Assert.Null(PeerProof.Parse(text));
        }
    }

    [Fact]
    public void ANonceOfAnotherSizeIsAProgrammingError() =>
        Assert.Throws<ArgumentException>(() => PeerProof.Create(Key, "GET", "h:1", "/v2/", Now, new byte[8]));
}
