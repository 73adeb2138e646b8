using Spegel.Oci;

namespace Spegel.Tests.Oci;

public sealed class DistributionPathTests
{
    private const string D = "sha256:3caa2469de2a23cbcc209dd0b9d01cd78ff9a0f88741655991d36baede5b0996";

    [Fact]
    public void ManifestByTagNeedsTheRegistryAndGivesTheImageNameKey()
    {
        var request = DistributionPath.Parse("/v2/library/nginx/manifests/1.27", "docker.io", out var error);
        Assert.Null(error);
        Assert.Equal(DistributionKind.Manifest, request!.Kind);
        Assert.Equal("library/nginx", request.Name);
        Assert.Equal("1.27", request.Tag);
        Assert.Equal("docker.io/library/nginx:1.27", request.Key);
    }

    [Fact]
    public void ManifestByTagWithoutNsIsUnknown()
    {
        Assert.Null(DistributionPath.Parse("/v2/library/nginx/manifests/1.27", null, out var error));
        Assert.Equal(404, error!.Status);
        Assert.Equal("MANIFEST_UNKNOWN", error.Code);
    }

    [Fact]
    public void DigestsNeedNoNsAndTheKeyIsTheDigest()
    {
        var manifest = DistributionPath.Parse($"/v2/a/b/c/manifests/{D}", null, out _);
        var blob = DistributionPath.Parse($"/v2/x/blobs/{D}", "ghcr.io", out _);
        Assert.Equal(D, manifest!.Key);
        Assert.Equal(DistributionKind.Blob, blob!.Kind);
        Assert.Equal(D, blob.Key);
        Assert.Equal("ghcr.io", blob.Registry);
    }

    [Fact]
    public void NamesMayContainTheWordsManifestsAndBlobs()
    {
        var request = DistributionPath.Parse($"/v2/blobs/manifests/blobs/{D}", null, out _);
        Assert.Equal("blobs/manifests", request!.Name);
        Assert.Equal(DistributionKind.Blob, request.Kind);
    }

    [Fact]
    public void RegistryWithPortIsAccepted()
    {
        var request = DistributionPath.Parse("/v2/spegeltest/x/manifests/v1", "127.0.0.1:5000", out _);
        Assert.Equal("127.0.0.1:5000/spegeltest/x:v1", request!.Key);
    }

    [Theory]
    [InlineData("/v2/../../etc/passwd/blobs/" + D, 400, "NAME_INVALID")]
    [InlineData("/v2/foo/../bar/blobs/" + D, 400, "NAME_INVALID")]
    [InlineData("/v2/Foo/blobs/" + D, 400, "NAME_INVALID")]
    [InlineData("/v2/foo//bar/blobs/" + D, 400, "NAME_INVALID")]
    [InlineData("/v2/-foo/blobs/" + D, 400, "NAME_INVALID")]
    [InlineData("/v2/foo_/blobs/" + D, 400, "NAME_INVALID")]
    [InlineData("/v2//blobs/" + D, 400, "NAME_INVALID")]
    [InlineData("/v2/foo/blobs/sha256:abc", 400, "DIGEST_INVALID")]
    [InlineData("/v2/foo/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", 400, "DIGEST_INVALID")]
    [InlineData("/v2/foo/blobs/latest", 400, "DIGEST_INVALID")]
    [InlineData("/v2/foo/blobs/sha256:../../../etc/passwd", 400, "DIGEST_INVALID")]
    [InlineData("/v2/foo/manifests/.hidden", 400, "TAG_INVALID")]
    [InlineData("/v2/foo/manifests/-x", 400, "TAG_INVALID")]
    [InlineData("/v2/foo/manifests/a/b", 400, "TAG_INVALID")]
    [InlineData("/v2/_catalog", 404, "UNSUPPORTED")]
    [InlineData("/v2/foo/tags/list", 404, "UNSUPPORTED")]
    [InlineData("/v2/foo/blobs/uploads/", 400, "DIGEST_INVALID")]
    [InlineData("/etc/passwd", 404, "UNSUPPORTED")]
    public void RejectsMalformedPaths(string path, int status, string code)
    {
        Assert.Null(DistributionPath.Parse(path, "docker.io", out var error));
        Assert.Equal(status, error!.Status);
        Assert.Equal(code, error.Code);
    }

    [Fact]
    public void RejectsOverlongNamesAndTags()
    {
        string name = string.Join('/', Enumerable.Repeat("abcdefghij", 30));
        Assert.Null(DistributionPath.Parse($"/v2/{name}/blobs/{D}", null, out var error));
        Assert.Equal("NAME_INVALID", error!.Code);
        Assert.Contains("255", error.Message, StringComparison.Ordinal);
        Assert.Null(DistributionPath.Parse($"/v2/foo/manifests/{new string('a', 129)}", "docker.io", out error));
        Assert.Equal("TAG_INVALID", error!.Code);
        Assert.NotNull(DistributionPath.Parse($"/v2/foo/manifests/{new string('a', 128)}", "docker.io", out _));
    }

    [Theory]
    [InlineData("docker.io")]
    [InlineData("127.0.0.1:5000")]
    [InlineData("[::1]:5000")]
    [InlineData("my-registry.example.com")]
    public void AcceptsRegistryHosts(string ns) => Assert.True(DistributionPath.IsValidRegistry(ns));

    [Theory]
    [InlineData("docker.io/evil")]
    [InlineData("a b")]
    [InlineData("host:port")]
    [InlineData("")]
    [InlineData("-bad.example")]
    public void RejectsBadNs(string ns)
    {
        Assert.Null(DistributionPath.Parse("/v2/foo/manifests/1", ns, out var error));
        Assert.Equal("NAME_INVALID", error!.Code);
    }
}
