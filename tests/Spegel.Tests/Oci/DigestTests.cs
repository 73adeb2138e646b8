using Spegel.Oci;

namespace Spegel.Tests.Oci;

public sealed class DigestTests
{
    private const string Hex = "3caa2469de2a23cbcc209dd0b9d01cd78ff9a0f88741655991d36baede5b0996";

    [Fact]
    public void ParsesSha256()
    {
        Assert.True(Digest.TryParse($"sha256:{Hex}", out var digest, out _));
        Assert.Equal("sha256", digest.Algorithm);
        Assert.Equal(Hex, digest.Hex);
        Assert.Equal($"sha256:{Hex}", digest.ToString());
    }

    [Fact]
    public void ParsesSha512()
    {
        string hex = new('a', 128);
        Assert.True(Digest.TryParse($"sha512:{hex}", out var digest, out _));
        Assert.Equal("sha512", digest.Algorithm);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("sha256", "algorithm:hex")]
    [InlineData("sha256:", "algorithm:hex")]
    [InlineData(":abc", "algorithm:hex")]
    [InlineData("sha256:abc", "64 lowercase hex")]
    [InlineData("sha256:3CAA2469DE2A23CBCC209DD0B9D01CD78FF9A0F88741655991D36BAEDE5B0996", "64 lowercase hex")]
    [InlineData("sha256:3caa2469de2a23cbcc209dd0b9d01cd78ff9a0f88741655991d36baede5b099g", "64 lowercase hex")]
    [InlineData("sha256:3caa2469de2a23cbcc209dd0b9d01cd78ff9a0f88741655991d36baede5b09960", "64 lowercase hex")]
    [InlineData("md5:d41d8cd98f00b204e9800998ecf8427e", "unsupported digest algorithm 'md5'")]
    [InlineData("blake3:abcd", "unsupported digest algorithm 'blake3'")]
    [InlineData("SHA256:3caa2469de2a23cbcc209dd0b9d01cd78ff9a0f88741655991d36baede5b0996", "malformed")]
    [InlineData("../../etc:passwd", "malformed")]
    [InlineData("sha256:../../../../etc/passwd", "64 lowercase hex")]
    public void RejectsWithAClearReason(string text, string reason)
    {
        Assert.False(Digest.TryParse(text, out _, out string? error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Sha256OfBytesMatchesTheKnownVector()
    {
        var digest = Digest.Sha256(System.Security.Cryptography.SHA256.HashData("foobar"u8));
        Assert.Equal("sha256:c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2", digest.ToString());
    }
}
