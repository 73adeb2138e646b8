using Spegel.Mirroring;
using Spegel.Oci;

namespace Spegel.Tests.Mirroring;

public sealed class PeerRequestTests
{
    private const string Hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    [Theory]
    [InlineData(true, "library/app", null, "sha256:" + Hex, "docker.io", "/v2/library/app/blobs/sha256:" + Hex + "?ns=docker.io")]
    [InlineData(false, "library/app", "1.27", null, "registry.example.com:5000", "/v2/library/app/manifests/1.27?ns=registry.example.com%3A5000")]
    [InlineData(false, "a/b/c", null, "sha256:" + Hex, "[fd77:77::1]:5000", "/v2/a/b/c/manifests/sha256:" + Hex + "?ns=%5Bfd77%3A77%3A%3A1%5D%3A5000")]
    [InlineData(true, "x", null, "sha256:" + Hex, null, "/v2/x/blobs/sha256:" + Hex)]
    public void ThePeersRequestIsRebuiltFromTheValidatedParts(bool blob, string name, string? tag, string? digest, string? registry, string expected)
    {
        var request = new PeerRequest(new DistributionRequest(blob ? DistributionKind.Blob : DistributionKind.Manifest, name, tag, digest is null ? null : Digest.Parse(digest), registry), Head: false, Range: null, Accept: []);
        Assert.Equal(expected, request.PathAndQuery);
    }
}
