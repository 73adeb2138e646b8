using System.Net;
using Xunit.Abstractions;
using Spegel.Oci;
using Spegel.Registry;
using Spegel.Tests.Testing;

namespace Spegel.Tests.Registry;

/// <summary>
/// What the manifest path allocates, measured: the audit's lever was a 3.6 MB layer asked for as a manifest, read
/// whole into memory by every request (≈ 8 MB each, 500 at once grew the node by 4 GB). The positive control shows the
/// meter sees whole reads; then layers asked as manifests, and known manifests streamed, allocate a small fraction.
/// </summary>
[Collection(MemoryCollection.Name)]
public sealed class ManifestMemoryTests(ITestOutputHelper output)
{
    private const int Requests = 16;
    private const int Size = 3_600_000;

    [Fact]
    public async Task LayersAskedAsManifestsAndStreamedManifestsAllocateLittleOfWhatTheyAreAsked()
    {
        // Chunks as the content folder's reader writes them (FileBlobReader: 256 KiB, each flushed).
        var store = new MemoryContentStore { ChunkSize = 256 * 1024 };
        var layers = Enumerable.Range(0, Requests + 1).Select(i => store.Add(ManifestPathTests.Layer(i, Size))).ToList();
        var indexes = Enumerable.Range(0, Requests + 1).Select(i => store.Add(ManifestPathTests.BigIndex(i, Size))).ToList();
        await using var server = await RegistryServer.StartAsync(store);
        using var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = Eventually.HangGuard };
        byte[] buffer = new byte[64 * 1024];

        async Task<long> AllocatedByAsync(IEnumerable<Digest> digests, HttpStatusCode expected)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            foreach (var digest in digests)
            {
                using var response = await http.GetAsync($"/v2/library/app/manifests/{digest}?ns=docker.io", HttpCompletionOption.ResponseHeadersRead);
                Assert.Equal(expected, response.StatusCode);
                await using var body = await response.Content.ReadAsStreamAsync();
                while (await body.ReadAsync(buffer) > 0)
                {
                }
            }

            return GC.GetTotalAllocatedBytes(precise: true) - before;
        }

        // Warm up (JIT, Kestrel's buffers) with the extra one of each.
        await AllocatedByAsync([layers[^1]], HttpStatusCode.NotFound);
        await AllocatedByAsync([indexes[^1], indexes[^1]], HttpStatusCode.OK);

        // Positive control: the first request for each index reads it whole once to learn its type.
        long control = await AllocatedByAsync(indexes.Take(Requests), HttpStatusCode.OK);
        long layerRequests = await AllocatedByAsync(layers.Take(Requests), HttpStatusCode.NotFound);
        long streamed = await AllocatedByAsync(indexes.Take(Requests), HttpStatusCode.OK);

        string figures = $"control {control / 1024} KiB, layers as manifests {layerRequests / 1024} KiB, streamed manifests {streamed / 1024} KiB for {Requests} requests of {Size} bytes";
        output.WriteLine(figures);
        Assert.True(control >= (long)Requests * Size, figures);
        Assert.True(layerRequests < RegistryHandler.ManifestReadBudget, figures);
        Assert.True(streamed < RegistryHandler.ManifestReadBudget, figures);
    }
}
