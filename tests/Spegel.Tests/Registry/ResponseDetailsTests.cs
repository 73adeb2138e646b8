using System.Text;
using Spegel.Oci;

namespace Spegel.Tests.Registry;

/// <summary>
/// Response headers Spegel sends on local answers (<c>pkg/registry/registry.go</c>, manifestHandler/blobHandler):
/// <c>OCI-Namespace: &lt;ns&gt;</c> on manifests and blobs, and a whole blob's <c>Content-Type</c> = its fingerprinted
/// media type (a range stays <c>application/octet-stream</c>).
/// </summary>
public sealed class ResponseDetailsTests : IAsyncLifetime
{
    // Spegel's test data (pkg/oci/testdata/blobs/sha256/68b8a989…): an image config built by BuildKit.
    private const string SpegelConfig = """{"architecture":"amd64","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"WorkingDir":"/","OnBuild":null},"created":"2024-02-13T20:57:33.241342971+01:00","history":[{"created":"2024-02-13T20:57:33.241342971+01:00","created_by":"COPY test.txt . # buildkit","comment":"buildkit.dockerfile.v0"}],"moby.buildkit.buildinfo.v1":"eyJmcm9udGVuZCI6ImRvY2tlcmZpbGUudjAifQ==","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:788bbd044fb43c00246a6351dae95d8a3d2510ba680dd404d5bae5e80479484d"]}}""";
    private static readonly byte[] Manifest = Encoding.UTF8.GetBytes("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{},\"layers\":[]}");
    private readonly MemoryContentStore _store = new();
    private RegistryServer _server = null!;
    private Digest _manifest;

    public async Task InitializeAsync()
    {
        _manifest = _store.AddImage("docker.io/library/app:1", Manifest, MediaTypes.OciManifest);
        _server = await RegistryServer.StartAsync(_store);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Theory]
    [InlineData("/v2/library/app/manifests/1?ns=docker.io")]
    [InlineData("/v2/library/app/manifests/{manifest}?ns=docker.io")]
    public async Task ManifestsCarryOciNamespace(string target)
    {
        foreach (string method in new[] { "GET", "HEAD" })
        {
            var response = await RawHttp.GetAsync(_server.Port, target.Replace("{manifest}", _manifest.ToString(), StringComparison.Ordinal), method);
            Assert.Equal(200, response.Status);
            Assert.Equal("docker.io", response.Header("OCI-Namespace"));
        }
    }

    [Fact]
    public async Task BlobsCarryOciNamespaceWholeAndRanged()
    {
        var digest = _store.Add(Encoding.UTF8.GetBytes("layer bytes"));
        var whole = await RawHttp.GetAsync(_server.Port, $"/v2/library/app/blobs/{digest}?ns=registry.example.com:5000");
        Assert.Equal("registry.example.com:5000", whole.Header("OCI-Namespace"));
        var ranged = await RawHttp.GetAsync(_server.Port, $"/v2/library/app/blobs/{digest}?ns=registry.example.com:5000", "GET", "Range: bytes=0-1\r\n");
        Assert.Equal(206, ranged.Status);
        Assert.Equal("registry.example.com:5000", ranged.Header("OCI-Namespace"));

        // Without ns there is no namespace to name (Spegel refuses such requests; we serve digests without it).
        Assert.Null((await RawHttp.GetAsync(_server.Port, $"/v2/library/app/blobs/{digest}")).Header("OCI-Namespace"));
    }

    [Theory]
    [InlineData(SpegelConfig, "application/vnd.oci.image.config.v1+json")]
    [InlineData("{\"architecture\":\"arm64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"config\":{}}", "application/vnd.oci.image.config.v1+json")]
    [InlineData("{}", "application/vnd.oci.empty.v1+json")]
    [InlineData("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.in-toto+json\"}", "application/vnd.in-toto+json")]
    [InlineData("\u001f\u008b\u0008 not json at all", "application/octet-stream")]
    [InlineData("plain text", "application/octet-stream")]
    [InlineData("{\"_type\":\"https://in-toto.io/Statement/v1\"}", "application/octet-stream")]
    public async Task AWholeBlobIsTypedByItsContentAndARangeIsOctetStream(string content, string expected)
    {
        var digest = _store.Add(Encoding.UTF8.GetBytes(content));
        string target = $"/v2/library/app/blobs/{digest}?ns=docker.io";
        var get = await RawHttp.GetAsync(_server.Port, target);
        var head = await RawHttp.GetAsync(_server.Port, target, "HEAD");
        Assert.Equal(200, get.Status);
        Assert.Equal(expected, get.Header("Content-Type"));
        Assert.Equal(expected, head.Header("Content-Type"));
        Assert.Equal(Encoding.UTF8.GetBytes(content), get.Body);

        var ranged = await RawHttp.GetAsync(_server.Port, target, "GET", "Range: bytes=0-0\r\n");
        Assert.Equal(206, ranged.Status);
        Assert.Equal("application/octet-stream", ranged.Header("Content-Type"));
    }

    [Fact]
    public async Task ABlobOver4MiBIsOctetStreamEvenWhenItIsAConfig()
    {
        string padding = new('x', 4 * 1024 * 1024);
        var digest = _store.Add(Encoding.UTF8.GetBytes($"{{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{{}},\"pad\":\"{padding}\"}}"));
        var head = await RawHttp.GetAsync(_server.Port, $"/v2/library/app/blobs/{digest}?ns=docker.io", "HEAD");
        Assert.Equal("application/octet-stream", head.Header("Content-Type"));
    }
}
