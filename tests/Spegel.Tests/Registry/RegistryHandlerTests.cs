using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Spegel.Oci;
using Spegel.Registry;
using Spegel.Routing;

namespace Spegel.Tests.Registry;

/// <summary>The registry API on real Kestrel over an in-memory store: formats, ranges, errors, auth.</summary>
public sealed class RegistryHandlerTests : IAsyncLifetime
{
    private const string Registry = "docker.io";
    private static readonly byte[] Manifest = Encoding.UTF8.GetBytes("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{},\"layers\":[]}");
    private static readonly byte[] BareManifest = Encoding.UTF8.GetBytes("{\"schemaVersion\":2,\"config\":{},\"layers\":[]}");
    private static readonly byte[] BareIndex = Encoding.UTF8.GetBytes("{\"schemaVersion\":2,\"manifests\":[]}");
    private readonly MemoryContentStore _store = new();
    private readonly byte[] _blob = new byte[100_000];
    private Digest _blobDigest;
    private Digest _manifestDigest;
    private RegistryServer _server = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        new Random(3).NextBytes(_blob);
        _blobDigest = _store.Add(_blob);
        _manifestDigest = _store.AddImage("docker.io/library/app:1", Manifest, MediaTypes.OciManifest);
        _store.AddImage("docker.io/library/bare:1", BareManifest, string.Empty);
        _store.AddImage("docker.io/library/index:1", BareIndex, MediaTypes.OciIndex);
        _server = await RegistryServer.StartAsync(_store);
        _http = new HttpClient { BaseAddress = _server.BaseAddress };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task ApiVersionCheck()
    {
        foreach (var method in new[] { HttpMethod.Get, HttpMethod.Head })
        {
            using var response = await _http.SendAsync(new HttpRequestMessage(method, "/v2/"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("registry/2.0", response.Headers.GetValues("Docker-Distribution-API-Version").Single());
            Assert.Equal(0, response.Content.Headers.ContentLength);
        }
    }

    [Fact]
    public async Task ManifestByTagAndByDigest()
    {
        using var byTag = await _http.GetAsync($"/v2/library/app/manifests/1?ns={Registry}");
        Assert.Equal(HttpStatusCode.OK, byTag.StatusCode);
        Assert.Equal(MediaTypes.OciManifest, byTag.Content.Headers.ContentType!.MediaType);
        Assert.Equal(_manifestDigest.ToString(), byTag.Headers.GetValues("Docker-Content-Digest").Single());
        Assert.Equal(Manifest, await byTag.Content.ReadAsByteArrayAsync());

        using var byDigest = await _http.GetAsync($"/v2/any/name/manifests/{_manifestDigest}");
        Assert.Equal(HttpStatusCode.OK, byDigest.StatusCode);
        Assert.Equal(Manifest, await byDigest.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData("bare", MediaTypes.OciManifest)]
    [InlineData("index", MediaTypes.OciIndex)]
    public async Task ManifestWithoutMediaTypeIsSniffed(string name, string expected)
    {
        using var response = await _http.GetAsync($"/v2/library/{name}/manifests/1?ns={Registry}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(expected, response.Content.Headers.ContentType!.MediaType);
    }

    [Fact]
    public async Task TagWithoutNsIsNotFound()
    {
        var response = await RawHttp.GetAsync(_server.Port, "/v2/library/app/manifests/1");
        Assert.Equal(404, response.Status);
        AssertOciError(response, "MANIFEST_UNKNOWN");
    }

    [Fact]
    public async Task UnknownContentIs404WithOciBody()
    {
        string missing = "sha256:" + new string('0', 64);
        AssertOciError(await RawHttp.GetAsync(_server.Port, $"/v2/x/blobs/{missing}"), "BLOB_UNKNOWN", 404);
        AssertOciError(await RawHttp.GetAsync(_server.Port, $"/v2/x/manifests/{missing}"), "MANIFEST_UNKNOWN", 404);
        AssertOciError(await RawHttp.GetAsync(_server.Port, "/v2/library/app/manifests/2?ns=docker.io"), "MANIFEST_UNKNOWN", 404);
    }

    [Fact]
    public async Task WholeBlobWithHeaders()
    {
        using var response = await _http.GetAsync($"/v2/library/app/blobs/{_blobDigest}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/octet-stream", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal(_blob.Length, response.Content.Headers.ContentLength);
        Assert.Equal("bytes", response.Headers.AcceptRanges.Single());
        Assert.Equal(_blobDigest.ToString(), response.Headers.GetValues("Docker-Content-Digest").Single());
        Assert.Equal(_blob, await response.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData("bytes=0-0", 0, 0)]
    [InlineData("bytes=99999-99999", 99_999, 99_999)]
    [InlineData("bytes=-10", 99_990, 99_999)]
    [InlineData("bytes=50000-", 50_000, 99_999)]
    [InlineData("bytes=10-19", 10, 19)]
    [InlineData("bytes=99990-200000", 99_990, 99_999)]
    public async Task SingleRangesOnGetAndHead(string range, long start, long end)
    {
        var get = await RawHttp.GetAsync(_server.Port, $"/v2/x/blobs/{_blobDigest}", "GET", $"Range: {range}\r\n");
        var head = await RawHttp.GetAsync(_server.Port, $"/v2/x/blobs/{_blobDigest}", "HEAD", $"Range: {range}\r\n");
        Assert.Equal(206, get.Status);
        Assert.Equal($"bytes {start}-{end}/{_blob.Length}", get.Header("Content-Range"));
        Assert.Equal((end - start + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), get.Header("Content-Length"));
        Assert.Equal(_blob.AsSpan((int)start, (int)(end - start + 1)).ToArray(), get.Body);
        AssertSameHeaders(get, head);
        Assert.Empty(head.Body);
    }

    [Theory]
    [InlineData("bytes=100000-")]
    [InlineData("bytes=200000-300000")]
    [InlineData("bytes=-0")]
    public async Task UnsatisfiableRangeIs416(string range)
    {
        var get = await RawHttp.GetAsync(_server.Port, $"/v2/x/blobs/{_blobDigest}", "GET", $"Range: {range}\r\n");
        var head = await RawHttp.GetAsync(_server.Port, $"/v2/x/blobs/{_blobDigest}", "HEAD", $"Range: {range}\r\n");
        Assert.Equal(416, get.Status);
        Assert.Equal($"bytes */{_blob.Length}", get.Header("Content-Range"));
        AssertOciError(get, "RANGE_INVALID");
        AssertSameHeaders(get, head);
    }

    [Theory]
    [InlineData("bytes=5-1")]
    [InlineData("bytes=x-y")]
    [InlineData("bytes")]
    public async Task MalformedRangeIs416RangeInvalid(string range)
    {
        var get = await RawHttp.GetAsync(_server.Port, $"/v2/x/blobs/{_blobDigest}", "GET", $"Range: {range}\r\n");
        Assert.Equal(416, get.Status);
        AssertOciError(get, "RANGE_INVALID");
    }

    [Fact]
    public async Task SeveralRangesGetTheWholeBlob()
    {
        var get = await RawHttp.GetAsync(_server.Port, $"/v2/x/blobs/{_blobDigest}", "GET", "Range: bytes=0-1,10-20\r\n");
        Assert.Equal(200, get.Status);
        Assert.Equal(_blob, get.Body);
        Assert.Null(get.Header("Content-Range"));
    }

    [Fact]
    public async Task HeadReturnsExactlyGetsHeaders()
    {
        foreach (string target in new[] { $"/v2/x/blobs/{_blobDigest}", "/v2/library/app/manifests/1?ns=docker.io", $"/v2/x/manifests/{_manifestDigest}" })
        {
            var get = await RawHttp.GetAsync(_server.Port, target);
            var head = await RawHttp.GetAsync(_server.Port, target, "HEAD");
            Assert.Equal(get.Status, head.Status);
            AssertSameHeaders(get, head);
            Assert.Empty(head.Body);
        }
    }

    [Theory]
    [InlineData("/v2/../../etc/passwd", 404, "UNSUPPORTED")]
    [InlineData("/v2/library/../../../etc/blobs/sha256:3caa2469de2a23cbcc209dd0b9d01cd78ff9a0f88741655991d36baede5b0996", 400, "NAME_INVALID")]
    [InlineData("/v2/%2e%2e/%2e%2e/etc/blobs/sha256:3caa2469de2a23cbcc209dd0b9d01cd78ff9a0f88741655991d36baede5b0996", 400, "NAME_INVALID")]
    [InlineData("/v2/x%2f..%2f..%2fetc/blobs/sha256:3caa2469de2a23cbcc209dd0b9d01cd78ff9a0f88741655991d36baede5b0996", 400, "NAME_INVALID")]
    [InlineData("/v2/x/blobs/sha256%3a..%2f..%2f..%2fetc%2fpasswd", 400, "DIGEST_INVALID")]
    [InlineData("/v2/%252e%252e/blobs/sha256:3caa2469de2a23cbcc209dd0b9d01cd78ff9a0f88741655991d36baede5b0996", 400, "NAME_INVALID")]
    [InlineData("/v2/x/blobs/%zz", 400, "DIGEST_INVALID")]
    [InlineData("/v2/Library/app/manifests/1?ns=docker.io", 400, "NAME_INVALID")]
    [InlineData("/v2/library/app/manifests/bad!tag?ns=docker.io", 400, "TAG_INVALID")]
    [InlineData("/v2/library/app/manifests/1?ns=docker.io/../x", 400, "NAME_INVALID")]
    [InlineData("/v2/x/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", 400, "DIGEST_INVALID")]
    [InlineData("/v2/x/blobs/sha256:ABC", 400, "DIGEST_INVALID")]
    [InlineData("/v2/_catalog", 404, "UNSUPPORTED")]
    [InlineData("/v2/x/tags/list", 404, "UNSUPPORTED")]
    [InlineData("/index.html", 404, "UNSUPPORTED")]
    public async Task BadInputGetsTheRight4xxAndTheServerKeepsServing(string target, int status, string code)
    {
        var response = await RawHttp.GetAsync(_server.Port, target);
        Assert.Equal(status, response.Status);
        AssertOciError(response, code);
        Assert.Equal(200, (await RawHttp.GetAsync(_server.Port, "/v2/")).Status);
    }

    [Fact]
    public async Task OverlongPathsAndHeadersAreRejectedWithOciBodies()
    {
        var longPath = await RawHttp.GetAsync(_server.Port, "/v2/" + new string('a', 5000) + "/blobs/sha256:" + new string('0', 64));
        Assert.Equal(414, longPath.Status);
        AssertOciError(longPath, "NAME_INVALID");

        var longName = await RawHttp.GetAsync(_server.Port, "/v2/" + string.Join('/', Enumerable.Repeat("abcdefghij", 40)) + "/blobs/sha256:" + new string('0', 64));
        Assert.Equal(400, longName.Status);
        AssertOciError(longName, "NAME_INVALID");

        var bigHeader = await RawHttp.GetAsync(_server.Port, "/v2/", "GET", $"X-Big: {new string('x', 20_000)}\r\n");
        Assert.Equal(431, bigHeader.Status);
        AssertOciError(bigHeader, "UNSUPPORTED");

        // Past Kestrel's own limit (64 KiB of headers) Kestrel answers 431 itself, before any handler runs.
        var hugeHeader = await RawHttp.GetAsync(_server.Port, "/v2/", "GET", $"X-Huge: {new string('x', 100_000)}\r\n");
        Assert.Equal(431, hugeHeader.Status);
        Assert.Equal(200, (await RawHttp.GetAsync(_server.Port, "/v2/")).Status);
    }

    [Theory]
    [InlineData("PUT", "/v2/x/manifests/1")]
    [InlineData("POST", "/v2/x/blobs/uploads/")]
    [InlineData("PATCH", "/v2/x/blobs/uploads/abc")]
    [InlineData("DELETE", "/v2/x/manifests/sha256:3caa2469de2a23cbcc209dd0b9d01cd78ff9a0f88741655991d36baede5b0996")]
    [InlineData("OPTIONS", "/v2/")]
    public async Task WritesAreNotAllowed(string method, string target)
    {
        var response = await RawHttp.SendAsync(_server.Port, $"{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        Assert.Equal(405, response.Status);
        Assert.Equal("GET, HEAD", response.Header("Allow"));
        AssertOciError(response, "UNSUPPORTED");
    }

    [Fact]
    public async Task GarbageRequestLinesDoNotStopTheServer()
    {
        foreach (string garbage in new[] { "GARBAGE\r\n\r\n", "GET\r\n\r\n", "GET /v2/ HTTP/9.9\r\nHost: x\r\n\r\n", "\0\0\0\0\r\n\r\n" })
        {
            try
            {
                var response = await RawHttp.SendAsync(_server.Port, garbage);
                Assert.InRange(response.Status, 400, 505);
            }
            catch (IOException)
            {
                // Kestrel may close the connection without a response: acceptable for bytes that are not HTTP.
            }
        }

        Assert.Equal(200, (await RawHttp.GetAsync(_server.Port, "/v2/")).Status);
    }

    [Fact]
    public async Task AStoreFailureMidBodyAbortsTheResponseInsteadOfEndingItShort()
    {
        _store.FailAfterBytes = 50_000;
        await Assert.ThrowsAnyAsync<HttpRequestException>(async () =>
        {
            // Either the headers never arrive or the body breaks: never 200 with a short body read as complete.
            using var response = await _http.GetAsync($"/v2/x/blobs/{_blobDigest}", HttpCompletionOption.ResponseHeadersRead);
            await response.Content.ReadAsByteArrayAsync();
        });
        _store.FailAfterBytes = null;
        Assert.Equal(_blob, await _http.GetByteArrayAsync($"/v2/x/blobs/{_blobDigest}"));
    }

    [Fact]
    public async Task HealthAndLiveness()
    {
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync("/livez")).StatusCode);
        await using var notReady = await RegistryServer.StartAsync(_store, router: new NeverReadyRouter());
        using var http = new HttpClient { BaseAddress = notReady.BaseAddress };
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/livez")).StatusCode);
    }

    [Fact]
    public async Task BasicAuthWhenConfigured()
    {
        using var temp = new TempFolder();
        temp.Write("username", "hello");
        temp.Write("password", "world");
        var auth = BasicAuth.Load(temp.Path);
        Assert.Equal("Basic aGVsbG86d29ybGQ=", auth.HeaderValue);
        await using var server = await RegistryServer.StartAsync(_store, auth);
        using var http = new HttpClient { BaseAddress = server.BaseAddress };

        var anonymous = await RawHttp.GetAsync(server.Port, $"/v2/x/blobs/{_blobDigest}");
        Assert.Equal(401, anonymous.Status);
        Assert.Equal("Basic realm=\"spegel\"", anonymous.Header("WWW-Authenticate"));
        AssertOciError(anonymous, "UNAUTHORIZED");
        Assert.Equal(401, (await RawHttp.GetAsync(server.Port, "/v2/", "GET", "Authorization: Basic aGVsbG86d3Jvbmc=\r\n")).Status);
        Assert.Equal(401, (await RawHttp.GetAsync(server.Port, "/v2/", "GET", "Authorization: Basic !!!\r\n")).Status);
        Assert.Equal(200, (await RawHttp.GetAsync(server.Port, $"/v2/x/blobs/{_blobDigest}", "GET", "Authorization: Basic aGVsbG86d29ybGQ=\r\n")).Status);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/livez")).StatusCode);
    }

    private static void AssertOciError(RawResponse response, string code, int? status = null)
    {
        if (status is not null)
        {
            Assert.Equal(status, response.Status);
        }

        Assert.Equal("application/json", response.Header("Content-Type"));
        using var json = JsonDocument.Parse(response.Body);
        var error = json.RootElement.GetProperty("errors")[0];
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
    }

    private static void AssertSameHeaders(RawResponse get, RawResponse head)
    {
        var a = get.Headers.Where(h => h.Key is not ("date" or "connection")).OrderBy(h => h.Key).ToList();
        var b = head.Headers.Where(h => h.Key is not ("date" or "connection")).OrderBy(h => h.Key).ToList();
        Assert.Equal(a, b);
        Assert.Equal(get.Status, head.Status);
    }

    private sealed class NeverReadyRouter : IRouter
    {
        public string Id => "self";

        public bool Ready => false;

        public Task AdvertiseAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task WithdrawAsync(IReadOnlyCollection<string> keys, CancellationToken cancellationToken) => Task.CompletedTask;

        public async IAsyncEnumerable<RoutedPeer> LookupAsync(string key, int count, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.CompletedTask;
            yield break;
        }
    }
}
