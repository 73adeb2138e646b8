using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Spegel.Tests.Registry;

namespace Spegel.Tests.Mirroring;

/// <summary>Mirroring from peers, with peers that fail in every way we know of.</summary>
public sealed class PeerMirrorTests
{
    private static readonly string BlobPath = $"/v2/library/app/blobs/{MirrorHarness.BlobDigest}?ns=docker.io";

    [Fact]
    public async Task AMissIsServedFromAPeerWithItsHeadersAndBytes()
    {
        await using var harness = await MirrorHarness.StartAsync((PeerBehaviour.Good, 0));
        using var http = harness.Client();
        using var response = await http.GetAsync(BlobPath);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(MirrorHarness.Blob.Length, response.Content.Headers.ContentLength);
        Assert.Equal(MirrorHarness.BlobDigest, response.Headers.GetValues("Docker-Content-Digest").Single());
        Assert.Equal(MirrorHarness.Blob, await response.Content.ReadAsByteArrayAsync());
        // Counted once the relay returns, which may be just after our client has read the last byte.
        await Spegel.Tests.Testing.Eventually.WaitAsync(() => harness.Stats.Served == 1, "the relay counted as served");

        using var manifest = await http.GetAsync($"/v2/library/app/manifests/{MirrorHarness.ManifestDigest}?ns=docker.io");
        Assert.Equal("application/vnd.oci.image.manifest.v1+json", manifest.Content.Headers.ContentType!.MediaType);
        Assert.Equal(MirrorHarness.Manifest, await manifest.Content.ReadAsByteArrayAsync());
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/library/app/manifests/{MirrorHarness.ManifestDigest}"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(MirrorHarness.Manifest.Length, head.Content.Headers.ContentLength);
    }

    [Fact]
    public async Task NobodyHasItIsA404AfterEveryPeerSaidSo()
    {
        await using var harness = await MirrorHarness.StartAsync((PeerBehaviour.NotFound, 0), (PeerBehaviour.NotFound, 0));
        using var http = harness.Client();
        using var response = await http.GetAsync(BlobPath);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(2, harness.Stats.PeerFailures);
        Assert.Equal([1, 1], harness.Peers.Select(p => p.Requests));
        Assert.Equal((0, 1), (harness.Stats.Served, harness.Stats.NotFound));
    }

    [Fact]
    public async Task PeersAreAskedForTheValidatedRequestNotTheDecodedPath()
    {
        await using var harness = await MirrorHarness.StartAsync((PeerBehaviour.Good, 0));
        string hex = MirrorHarness.BlobDigest["sha256:".Length..];
        var response = await RawHttp.GetAsync(harness.Port, $"/v2/library/app/blobs/sha256%3A{hex}?ns=docker.io&extra=ignored", "HEAD", string.Empty);
        Assert.Equal(200, response.Status);
        Assert.Equal([$"/v2/library/app/blobs/{MirrorHarness.BlobDigest}?ns=docker.io"], harness.Peers[0].TargetsAsked);
    }

    [Fact]
    public async Task ARequestFromAPeerIsNeverForwarded()
    {
        await using var harness = await MirrorHarness.StartAsync((PeerBehaviour.Good, 0));
        var response = await RawHttp.GetAsync(harness.Port, BlobPath, "GET", "X-Spegel-Mirrored: true\r\n");
        Assert.Equal(404, response.Status);
        Assert.Equal(0, harness.Peers[0].Requests);
    }

    [Theory]
    [InlineData(PeerBehaviour.ResetAfter)]
    [InlineData(PeerBehaviour.StallAfter)]
    [InlineData(PeerBehaviour.TrickleAfter)]
    public async Task APeerThatFailsMidBodyIsReplacedByResuming(PeerBehaviour behaviour)
    {
        await using var harness = await MirrorHarness.StartAsync((behaviour, 1_000_000), (PeerBehaviour.Good, 0));
        using var http = harness.Client();
        byte[] body = await http.GetByteArrayAsync(BlobPath);
        Assert.Equal(MirrorHarness.Blob, body);
        Assert.Equal(1, harness.Stats.Resumes);
        Assert.Contains(harness.Peers[1].RangesAsked, r => r is not null && r.StartsWith("bytes=", StringComparison.Ordinal) && !r.StartsWith("bytes=0-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task CorruptBytesAreNeverPassedOnAsACompleteBlobNorCountedAsServed()
    {
        await using var harness = await MirrorHarness.StartAsync((PeerBehaviour.Corrupt, 0));
        using var http = harness.Client();

        int received = await ReceivedBeforeAbortAsync(http);
        Assert.True(received < MirrorHarness.Blob.Length, $"{received} bytes reached the client");
        Assert.Equal(1, harness.Stats.DigestMismatches);
        Assert.Equal((0, 1), (harness.Stats.Served, harness.Stats.Aborted));
        Assert.Equal(1, harness.Stats.Instruments.MirrorAborted.WithLabels("digest_mismatch").Value);
        Assert.Equal(0, harness.Stats.Instruments.MirrorRequests.WithLabels("docker.io", "hit").Value);
        Assert.Equal(1, harness.Stats.Instruments.MirrorRequests.WithLabels("docker.io", "miss").Value);
    }

    [Fact]
    public async Task ACorruptManifestByTagIsRefusedAndTheNextPeersServeIt()
    {
        // The corrupt peer names the digest of the bytes it should have sent: refused; two peers then agree on the tag.
        await using var harness = await MirrorHarness.StartAsync((PeerBehaviour.Corrupt, 0), (PeerBehaviour.Good, 0), (PeerBehaviour.Good, 0));
        using var http = harness.Client();
        Assert.Equal(MirrorHarness.Manifest, await http.GetByteArrayAsync("/v2/library/app/manifests/1?ns=docker.io"));
        Assert.Equal(1, harness.Stats.DigestMismatches);
        Assert.Equal([1, 1, 1], harness.Peers.Select(p => p.Requests));
    }

    [Fact]
    public async Task APeerLyingAboutContentRangeIsNotSpliced()
    {
        await using var harness = await MirrorHarness.StartAsync((PeerBehaviour.ResetAfter, 1_000_000), (PeerBehaviour.LieAboutRange, 0));
        using var http = harness.Client();
        int received = await ReceivedBeforeAbortAsync(http);
        Assert.True(received <= 1_000_000, $"{received} bytes reached the client: the liar's bytes were spliced in");
        Assert.Equal(1, harness.Peers[1].Requests); // the second peer was asked to continue, and refused
        Assert.Equal(2, harness.Stats.PeerFailures);
        Assert.Equal((0, 1, 0), (harness.Stats.Served, harness.Stats.Aborted, harness.Stats.Resumes));
    }

    [Fact]
    public async Task WhenNobodyCanContinueTheResponseIsAbortedAndNotCountedAsServed()
    {
        await using var harness = await MirrorHarness.StartAsync((PeerBehaviour.ResetAfter, 1_000_000), (PeerBehaviour.ResetAfter, 1_000));
        using var http = harness.Client();
        int received = await ReceivedBeforeAbortAsync(http);
        Assert.True(received < MirrorHarness.Blob.Length);
        Assert.Equal([1, 1], harness.Peers.Select(p => p.Requests));
        // The second peer's reset may reach us before or after its headers (a reset can drop data already sent), so
        // it fails either as a resume or as an answer: both peers failed, and the response was aborted, not served.
        Assert.Equal(2, harness.Stats.PeerFailures);
        Assert.Equal((0, 1), (harness.Stats.Served, harness.Stats.Aborted));
    }

    [Fact]
    public async Task ASlowPeerGetsAHedge()
    {
        await using var harness = await MirrorHarness.StartAsync(
            [new PeerSetup(IPAddress.Parse("127.0.0.2"), PeerBehaviour.SlowHeaders), new PeerSetup(IPAddress.Parse("127.0.0.3"), PeerBehaviour.Good)],
            routes: null,
            options => options with { HedgeDelay = TimeSpan.FromMilliseconds(200) });
        using var http = harness.Client();
        Assert.Equal(MirrorHarness.Blob, await http.GetByteArrayAsync(BlobPath));
        Assert.True(harness.Stats.Hedges >= 1);
        Assert.Equal([1, 1], harness.Peers.Select(p => p.Requests));
        Assert.Equal(0, harness.Stats.PeerFailures); // the slow peer's answer was not awaited, nor blamed
    }

    [Fact]
    public async Task RangesPassThroughAndResume()
    {
        // Ranges are striped over the holders: the peer asked first is the stripe's (the blob is random per run), so the
        // one that resets is put there.
        bool peer0First = Spegel.Mirroring.ChunkGrid.StripeOrder(["peer-0", "peer-1"], p => p, MirrorHarness.BlobDigest, Spegel.Mirroring.ChunkGrid.StripeIndex(1_000_000, null))[0] == "peer-0";
        (PeerBehaviour, long) resets = (PeerBehaviour.ResetAfter, 500_000), good = (PeerBehaviour.Good, 0);
        await using var harness = peer0First ? await MirrorHarness.StartAsync(resets, good) : await MirrorHarness.StartAsync(good, resets);
        var resumer = harness.Peers[peer0First ? 1 : 0];
        using var http = harness.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, BlobPath);
        request.Headers.TryAddWithoutValidation("Range", "bytes=1000000-2999999");
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal($"bytes 1000000-2999999/{MirrorHarness.Blob.Length}", response.Content.Headers.ContentRange!.ToString());
        Assert.Equal(MirrorHarness.Blob[1_000_000..3_000_000], await response.Content.ReadAsByteArrayAsync());
        // The resume starts where the bytes we received end (an aborted peer's last bytes may be lost in flight).
        Assert.Contains(resumer.RangesAsked, r => r is not null && r.EndsWith("-2999999", StringComparison.Ordinal) && long.Parse(r[6..r.IndexOf('-', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture) is > 1_000_000 and <= 1_500_000);
    }

    /// <summary>
    /// A peer's 416 is passed on only when its body arrives whole within the header timeout: one that breaks off is a
    /// failed peer, and the next answers (it used to escape as a 500 to the client).
    /// </summary>
    [Fact]
    public async Task A416WhoseBodyBreaksOffIsAFailedPeerNotA500()
    {
        bool peer0First = Spegel.Mirroring.ChunkGrid.StripeOrder(["peer-0", "peer-1"], p => p, MirrorHarness.BlobDigest, Spegel.Mirroring.ChunkGrid.StripeIndex(10, null))[0] == "peer-0";
        (PeerBehaviour, long) broken = (PeerBehaviour.UnsatisfiableThenReset, 0), good = (PeerBehaviour.Good, 0);
        await using var harness = peer0First ? await MirrorHarness.StartAsync(broken, good) : await MirrorHarness.StartAsync(good, broken);
        using var http = harness.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, BlobPath);
        request.Headers.TryAddWithoutValidation("Range", "bytes=10-19");
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal(MirrorHarness.Blob[10..20], await response.Content.ReadAsByteArrayAsync());
        Assert.Equal([1, 1], harness.Peers.Select(p => p.Requests)); // positive control: the broken peer was asked first
        Assert.Equal(1, harness.Stats.PeerFailures);
    }

    [Fact]
    public async Task ManyConcurrentRangesReassembleToTheDigestWithOneLookup()
    {
        await using var harness = await MirrorHarness.StartAsync((PeerBehaviour.Good, 0), (PeerBehaviour.Good, 0));
        using var http = harness.Client();
        const int parts = 24;
        int size = MirrorHarness.Blob.Length;
        var chunks = await Task.WhenAll(Enumerable.Range(0, parts).Select(async i =>
        {
            long start = (long)size * i / parts, end = ((long)size * (i + 1) / parts) - 1;
            using var request = new HttpRequestMessage(HttpMethod.Get, BlobPath);
            request.Headers.TryAddWithoutValidation("Range", $"bytes={start}-{end}");
            using var response = await http.SendAsync(request);
            Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
            return await response.Content.ReadAsByteArrayAsync();
        }));
        byte[] whole = chunks.SelectMany(c => c).ToArray();
        Assert.Equal(MirrorHarness.BlobDigest, "sha256:" + Convert.ToHexStringLower(SHA256.HashData(whole)));
        Assert.Equal(1, harness.Router.Lookups);
    }

    /// <summary>Reads the blob until the connection breaks; the bytes that arrived (a complete read fails the test).</summary>
    private static Task<int> ReceivedBeforeAbortAsync(HttpClient http) => ReceivedBeforeAbortAsync(http, BlobPath);

    /// <summary>Reads <paramref name="path"/> until the connection breaks; the bytes that arrived (a complete read fails the test).</summary>
    internal static async Task<int> ReceivedBeforeAbortAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var body = await response.Content.ReadAsStreamAsync();
        byte[] buffer = new byte[64 * 1024];
        int received = 0;
        try
        {
            int n;
            while ((n = await body.ReadAsync(buffer)) > 0)
            {
                received += n;
            }
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException)
        {
            return received;
        }

        Assert.Fail($"the body ended normally after {received} bytes: an incomplete blob was presented as complete");
        return received;
    }
}
