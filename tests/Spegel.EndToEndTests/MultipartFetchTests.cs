using Spegel.Testbed;
using Xunit.Abstractions;

namespace Spegel.EndToEndTests;

/// <summary>
/// containerd 2.1's multipart fetch (<see cref="MultipartFetcher"/>: parallel open-ended ranges, one chunk read from
/// each, then the connection closed) through a node's spegel, of a layer two real peers hold in containerd: the chunks
/// are striped over both, and the peers send little more than what the client reads.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class MultipartFetchTests(ClusterFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task AMultipartFetchThroughANodeIsServedByBothHoldersWithoutReadingPastTheChunks()
    {
        var list = (await fixture.N1.Containerd.Ctr(["content", "ls", "-q"])).EnsureSuccess("ctr content ls").StandardOutput;
        string layer = list.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(d => File.Exists(fixture.BlobFile(fixture.N2, d)))
            .MaxBy(d => new FileInfo(fixture.BlobFile(fixture.N1, d)).Length)!;
        long size = new FileInfo(fixture.BlobFile(fixture.N1, layer)).Length;
        Assert.True(size >= ClusterFixture.BigLayerBytes / 2, $"largest layer both hold: {size} bytes");
        var holders = new[] { fixture.N1, fixture.N2 };
        var before = new double[2];
        for (int i = 0; i < 2; i++)
        {
            before[i] = SpegelProcess.Sample(await holders[i].Spegel!.ScrapeAsync(), "spegel_peer_bytes_served_total") ?? 0;
        }

        var fetcher = new MultipartFetcher(workers: 4, chunkSize: 16 * 1024 * 1024, netns: fixture.N4.Netns);
        var result = await fetcher.FetchAsync(new Uri($"http://{fixture.N4.RegistryAddress}/v2/{fixture.Big.Repository}/blobs/{layer}?ns={fixture.Cluster.UpstreamAddress}"), layer);

        Assert.Equal(size, result.Bytes);
        Assert.True(result.Parallel);
        await Task.Delay(TimeSpan.FromSeconds(2)); // a peer counts a request's bytes when it ends: let the aborted ones end
        var served = new double[2];
        for (int i = 0; i < 2; i++)
        {
            served[i] = (SpegelProcess.Sample(await holders[i].Spegel!.ScrapeAsync(), "spegel_peer_bytes_served_total") ?? 0) - before[i];
        }

        string figures = $"n1 served {served[0]:0}, n2 served {served[1]:0}, delivered {size} ({served.Sum() / size:0.000}×) in {result.Elapsed.TotalSeconds:0.00} s";
        output.WriteLine(figures);
        Assert.All(served, s => Assert.True(s > 0, figures));
        Assert.True(served.Sum() <= 1.1 * size, figures);
    }
}
