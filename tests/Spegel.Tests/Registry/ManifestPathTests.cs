using System.Net;
using System.Text;
using System.Text.Json;
using Spegel.Oci;
using Spegel.Registry;
using Spegel.Tests.Testing;

namespace Spegel.Tests.Registry;

/// <summary>
/// <c>/manifests/&lt;digest&gt;</c> on real Kestrel: only image indexes and manifests are served (as Spegel), a layer
/// is refused after its first bytes, a manifest is streamed, and whole reads hold at most the read budget.
/// </summary>
public sealed class ManifestPathTests : IAsyncLifetime
{
    private readonly MemoryContentStore _store = new();
    private RegistryServer _server = null!;

    public async Task InitializeAsync() => _server = await RegistryServer.StartAsync(_store);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    /// <summary>A 3.6 MB layer (a gzip stream starts 1f 8b), the size the audit read 500 times at once.</summary>
    internal static byte[] Layer(int seed, int size = 3_600_000)
    {
        byte[] layer = new byte[size];
        new Random(seed).NextBytes(layer);
        layer[0] = 0x1f;
        layer[1] = 0x8b;
        return layer;
    }

    /// <summary>An image index of about <paramref name="size"/> bytes (a large annotation), distinct per seed.</summary>
    internal static byte[] BigIndex(int seed, int size = 3_000_000)
    {
        string filler = new('a', size - 200);
        return Encoding.UTF8.GetBytes($"{{\"schemaVersion\":2,\"mediaType\":\"{MediaTypes.OciIndex}\",\"manifests\":[],\"annotations\":{{\"seed\":\"{seed}\",\"filler\":\"{filler}\"}}}}");
    }

    [Fact]
    public async Task ALayerAskedForAsAManifestIs404AfterItsFirstBytesAndStillServedAsABlob()
    {
        var layer = _store.Add(Layer(1));
        foreach (string method in new[] { "GET", "HEAD" })
        {
            long before = _store.BytesRead;
            var response = await RawHttp.SendAsync(_server.Port, $"{method} /v2/library/app/manifests/{layer}?ns=docker.io HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", expectBody: method == "GET");
            Assert.Equal(404, response.Status);
            Assert.Equal("application/json", response.Header("Content-Type"));
            if (method == "GET")
            {
                using var json = JsonDocument.Parse(response.Body);
                Assert.Equal("MANIFEST_UNKNOWN", json.RootElement.GetProperty("errors")[0].GetProperty("code").GetString());
            }

            // At most the probe, and only the first time: the answer is remembered.
            Assert.InRange(_store.BytesRead - before, 0, ContentTypes.ProbeBytes);
        }

        using var http = new HttpClient { BaseAddress = _server.BaseAddress };
        using var blob = await http.GetAsync($"/v2/library/app/blobs/{layer}?ns=docker.io", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, blob.StatusCode);
        Assert.Equal(3_600_000, blob.Content.Headers.ContentLength);
    }

    [Theory]
    [InlineData("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"config\":{}}")] // an image config
    [InlineData("{}")]                                                                                                            // the empty descriptor
    [InlineData("{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}")]                                                          // schema 1: Spegel 404s it too
    [InlineData("[1,2,3]")]
    [InlineData("   \n\t")]
    public async Task JsonThatIsNotAnIndexOrManifestIs404AtTheManifestsPath(string content)
    {
        var digest = _store.Add(Encoding.UTF8.GetBytes(content));
        var response = await RawHttp.GetAsync(_server.Port, $"/v2/library/app/manifests/{digest}?ns=docker.io");
        Assert.Equal(404, response.Status);
        Assert.Contains("MANIFEST_UNKNOWN", response.BodyText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ALargeIndexIsStreamedWithItsMediaTypeAndHeadHasTheSameHeaders()
    {
        byte[] index = BigIndex(7);
        var digest = _store.Add(index);
        _store.ChunkSize = 64 * 1024;
        using var http = new HttpClient { BaseAddress = _server.BaseAddress };
        using var get = await http.GetAsync($"/v2/library/app/manifests/{digest}?ns=docker.io");
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(MediaTypes.OciIndex, get.Content.Headers.ContentType!.MediaType);
        Assert.Equal(digest.ToString(), get.Headers.GetValues("Docker-Content-Digest").Single());
        Assert.Equal(index, await get.Content.ReadAsByteArrayAsync());

        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/library/app/manifests/{digest}?ns=docker.io"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(index.Length, head.Content.Headers.ContentLength);
        Assert.Equal(MediaTypes.OciIndex, head.Content.Headers.ContentType!.MediaType);
    }

    /// <summary>
    /// Three first reads of 3 MB manifests at once: two fit the 8 MiB budget, the third waits its second and is told
    /// 503 (with Retry-After, counted), so containerd asks the next host; once the budget is free it is served.
    /// </summary>
    [Fact]
    public async Task WholeReadsHoldAtMostTheBudgetAndTheRequestBeyondIt503s()
    {
        var hold = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _store.HoldLargeReads = hold.Task;
        var digests = Enumerable.Range(0, 3).Select(i => _store.Add(BigIndex(100 + i))).ToList();
        using var http = new HttpClient { BaseAddress = _server.BaseAddress, Timeout = Eventually.HangGuard };
        var first = http.GetAsync($"/v2/library/app/manifests/{digests[0]}?ns=docker.io");
        var second = http.GetAsync($"/v2/library/app/manifests/{digests[1]}?ns=docker.io");
        var instruments = _server.Instruments;

        // Both hold their 3 MB of the budget while their reads wait (the probe reads are not held).
        await Eventually.WaitAsync(() => _store.BytesRead >= 2 * ContentTypes.ProbeBytes, "both probes");
        var third = await RawHttp.GetAsync(_server.Port, $"/v2/library/app/manifests/{digests[2]}?ns=docker.io");
        Assert.Equal(503, third.Status);
        Assert.Equal("1", third.Header("Retry-After"));
        Assert.Contains("UNAVAILABLE", third.BodyText, StringComparison.Ordinal);
        Assert.Equal(1, instruments.Refused.WithLabels("manifest_read_budget").Value);

        hold.SetResult();
        using (var a = await first)
        using (var b = await second)
        {
            Assert.Equal(HttpStatusCode.OK, a.StatusCode);
            Assert.Equal(HttpStatusCode.OK, b.StatusCode);
        }

        using var again = await http.GetAsync($"/v2/library/app/manifests/{digests[2]}?ns=docker.io");
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
    }
}
