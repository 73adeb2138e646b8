using System.Net;
using System.Security.Cryptography;
using Spegel.Testbed;

namespace Spegel.Tests.Mirroring;

/// <summary>
/// containerd 2.1's multipart fetch through our mirror (<see cref="MultipartFetcher"/>: parallel open-ended ranges, one
/// chunk read from each, then the connection closed): the chunks of a blob are spread over its holders, and peers send
/// no more than the chunks.
/// </summary>
public sealed class StripeTests
{
    private const int MiB = 1024 * 1024;
    private const long Window = 512 * 1024;

    private static readonly byte[] Large = RandomNumberGenerator.GetBytes(12 * MiB);
    private static readonly string LargeDigest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Large));

    private static Task<MirrorHarness> StartAsync() => MirrorHarness.StartAsync(
        [.. Enumerable.Range(2, 3).Select(i => new PeerSetup(IPAddress.Parse($"127.0.0.{i}"), PeerBehaviour.Good))],
        routes: null,
        tune: o => o with { RangeWindow = Window, ChunkEndGrace = TimeSpan.FromSeconds(5) },
        extra: new Dictionary<string, (byte[], string)> { [LargeDigest] = (Large, "application/octet-stream") });

    [Fact]
    public async Task AMultipartFetchIsStripedOverThePeersAndReadsNoMoreThanTheChunks()
    {
        await using var harness = await StartAsync();
        var fetcher = new MultipartFetcher(workers: 4, chunkSize: 2 * MiB);

        var result = await fetcher.FetchAsync(new Uri($"http://127.0.0.1:{harness.Port}/v2/library/app/blobs/{LargeDigest}?ns=docker.io"), LargeDigest);

        Assert.Equal(Large.Length, result.Bytes);
        Assert.True(result.Parallel);
        Assert.Equal(6, result.Requests.Count);
        Assert.All(result.Requests, r => Assert.EndsWith("-", r, StringComparison.Ordinal)); // as containerd asks
        var asked = harness.Peers.SelectMany(p => p.RangesAsked).ToList();
        Assert.All(asked, r => Assert.Matches(@"^bytes=\d+-\d+$", r)); // never open-ended to a peer
        Assert.True(harness.Peers.Count(p => p.BytesSent > 0) >= 2, string.Join(", ", harness.Peers.Select(p => p.BytesSent)));
        // Each chunk may leave at most one window unread (none when the client closes within the grace).
        long sent = harness.Peers.Sum(p => p.BytesSent);
        Assert.True(sent <= Large.Length + (6 * Window), $"peers sent {sent} bytes for {Large.Length} delivered");
    }

    [Fact]
    public async Task AWindowAnsweredWithAnotherSpanIsRefusedAndAnotherPeerServesIt()
    {
        await using var harness = await MirrorHarness.StartAsync(
            [new PeerSetup(IPAddress.Parse("127.0.0.2"), PeerBehaviour.LieAboutRange), new PeerSetup(IPAddress.Parse("127.0.0.3"), PeerBehaviour.LieAboutRange), new PeerSetup(IPAddress.Parse("127.0.0.4"), PeerBehaviour.Good)],
            routes: null,
            tune: o => o with { RangeWindow = Window },
            extra: new Dictionary<string, (byte[], string)> { [LargeDigest] = (Large, "application/octet-stream") });
        using var http = harness.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v2/library/app/blobs/{LargeDigest}?ns=docker.io");
        request.Headers.TryAddWithoutValidation("Range", $"bytes={MiB}-");
        using var response = await http.SendAsync(request);

        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal(Large.AsSpan(MiB).ToArray(), await response.Content.ReadAsByteArrayAsync());
        Assert.True(harness.Stats.PeerFailures >= 1);
        Assert.All(harness.Peers[2].RangesAsked, r => Assert.Matches(@"^bytes=\d+-\d+$", r!));
    }

    [Fact]
    public async Task AWholeBlobIsStillOneRequestWithoutARange()
    {
        await using var harness = await StartAsync();
        using var http = harness.Client();
        // Chunks asked before: the blob has a grid, which a whole-blob request must not use.
        foreach (int chunk in new[] { 2, 3 })
        {
            using var prime = new HttpRequestMessage(HttpMethod.Get, $"/v2/library/app/blobs/{LargeDigest}?ns=docker.io");
            prime.Headers.TryAddWithoutValidation("Range", $"bytes={chunk * 2 * MiB}-{chunk * 2 * MiB}");
            (await http.SendAsync(prime)).Dispose();
        }

        int before = harness.Peers.Sum(p => p.Requests);
        Assert.Equal(Large, await http.GetByteArrayAsync($"/v2/library/app/blobs/{LargeDigest}?ns=docker.io"));
        Assert.Equal(1, harness.Peers.Sum(p => p.Requests) - before);
        Assert.Equal(string.Empty, harness.Peers.SelectMany(p => p.RangesAsked).Last(r => !r!.StartsWith("bytes=", StringComparison.Ordinal)));
        Assert.Equal(2, harness.Peers.SelectMany(p => p.RangesAsked).Count(r => r!.StartsWith("bytes=", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task AClientThatClosesAtItsChunkEndStopsThePeerThere()
    {
        await using var harness = await StartAsync();
        using var http = harness.Client();
        string path = $"/v2/library/app/blobs/{LargeDigest}?ns=docker.io";
        // Two chunks asked before: the grid (2 MiB) is known.
        foreach (int chunk in new[] { 2, 3 })
        {
            using var prime = new HttpRequestMessage(HttpMethod.Get, path);
            prime.Headers.TryAddWithoutValidation("Range", $"bytes={chunk * 2 * MiB}-{chunk * 2 * MiB}");
            using var primed = await http.SendAsync(prime);
            Assert.Equal(HttpStatusCode.PartialContent, primed.StatusCode);
        }

        long before = harness.Peers.Sum(p => p.BytesSent);
        int requestsBefore = harness.Peers.Sum(p => p.Requests);
        using (var closing = new HttpClient(NetnsSockets.Handler(netns: null)) { BaseAddress = http.BaseAddress })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.TryAddWithoutValidation("Range", $"bytes={2 * MiB}-");
            using var response = await closing.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
            Assert.Equal($"bytes {2 * MiB}-{Large.Length - 1}/{Large.Length}", response.Content.Headers.ContentRange!.ToString());
            Assert.Equal(Large.Length - (2 * MiB), response.Content.Headers.ContentLength);
            byte[] chunk = new byte[2 * MiB];
            await using var body = await response.Content.ReadAsStreamAsync();
            await body.ReadExactlyAsync(chunk);
            Assert.Equal(Large.AsSpan(2 * MiB, 2 * MiB).ToArray(), chunk);
        } // closed without reading further, as containerd's chunk worker does

        await Task.Delay(TimeSpan.FromSeconds(6)); // past the grace: a relay that went on would have asked by now
        var asked = harness.Peers.SelectMany(p => p.RangesAsked).Select(r => r!).Where(r => !r.EndsWith($"={r[6..r.IndexOf('-', StringComparison.Ordinal)]}-{r[6..r.IndexOf('-', StringComparison.Ordinal)]}", StringComparison.Ordinal)).ToList();
        Assert.Equal(harness.Peers.Sum(p => p.Requests) - requestsBefore, asked.Count);
        Assert.All(asked, r => Assert.Matches(@"^bytes=\d+-\d+$", r));
        Assert.All(asked, r => Assert.True(long.Parse(r.Split('-')[1], System.Globalization.CultureInfo.InvariantCulture) < 4 * MiB, $"{r} goes past the chunk"));
        long sent = harness.Peers.Sum(p => p.BytesSent) - before;
        Assert.Equal(2 * MiB, sent);
    }
}
