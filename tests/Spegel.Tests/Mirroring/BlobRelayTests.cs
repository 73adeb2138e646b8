using System.Net;
using System.Security.Cryptography;
using Spegel.Mirroring;

namespace Spegel.Tests.Mirroring;

/// <summary>
/// The relay of a blob from peers (<see cref="VerifiedBlobRelay"/>): the peer's bytes are read into the response's pipe
/// and flushed as they come, except a whole blob's last <see cref="VerifiedBlobRelay.HoldBack"/> bytes, held until the
/// digest matches.
/// </summary>
public sealed class BlobRelayTests
{
    private static readonly string BlobPath = $"/v2/library/app/blobs/{MirrorHarness.BlobDigest}?ns=docker.io";

    /// <summary>Smaller than the held tail: relayed from the held buffer alone.</summary>
    private static readonly byte[] Small = RandomNumberGenerator.GetBytes(10_000);

    private static readonly string SmallDigest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Small));

    private static readonly string SmallPath = $"/v2/library/app/blobs/{SmallDigest}?ns=docker.io";

    private static Dictionary<string, (byte[], string)> SmallContent => new() { [SmallDigest] = (Small, "application/octet-stream") };

    [Fact]
    public async Task ACorruptBlobReachesTheClientShortOfItsWholeHeldTail()
    {
        await using var harness = await MirrorHarness.StartAsync((PeerBehaviour.Corrupt, 0));
        using var http = harness.Client();
        int received = await PeerMirrorTests.ReceivedBeforeAbortAsync(http, BlobPath);
        Assert.True(received <= MirrorHarness.Blob.Length - VerifiedBlobRelay.HoldBack, $"{received} of {MirrorHarness.Blob.Length} bytes reached the client");
        Assert.Equal(1, harness.Stats.DigestMismatches);
        Assert.Equal((0, 1), (harness.Stats.Served, harness.Stats.Aborted));
    }

    [Fact]
    public async Task ABlobSmallerThanTheHeldTailIsRelayedWhole()
    {
        await using var harness = await MirrorHarness.StartAsync([new PeerSetup(IPAddress.Parse("127.0.0.2"), PeerBehaviour.Good)], routes: null, extra: SmallContent);
        using var http = harness.Client();
        using var response = await http.GetAsync(SmallPath);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Small, await response.Content.ReadAsByteArrayAsync());
        await Spegel.Tests.Testing.Eventually.WaitAsync(() => harness.Stats.Served == 1, "the relay counted as served");
    }

    [Fact]
    public async Task ASmallCorruptBlobSendsNoByteOfItsBody()
    {
        await using var harness = await MirrorHarness.StartAsync([new PeerSetup(IPAddress.Parse("127.0.0.2"), PeerBehaviour.Corrupt)], routes: null, extra: SmallContent);
        using var http = harness.Client();
        try
        {
            Assert.Equal(0, await PeerMirrorTests.ReceivedBeforeAbortAsync(http, SmallPath));
        }
        catch (HttpRequestException)
        {
            // The reset overtook the headers (they were sent before the peer's bytes arrived): no byte either.
        }

        await Spegel.Tests.Testing.Eventually.WaitAsync(() => harness.Stats.Aborted == 1, "the relay counted as aborted");
        Assert.Equal(1, harness.Stats.DigestMismatches);
        Assert.Equal((0, 1), (harness.Stats.Served, harness.Stats.Aborted));
    }

    /// <summary>
    /// A peer that stalls once the held tail has begun: the next peer is asked from the first byte the client does not
    /// have, held bytes included, and the blob still has to match its digest as a whole.
    /// </summary>
    [Fact]
    public async Task APeerThatStallsInsideTheHeldTailIsResumedWhereItStopped()
    {
        long stopsAt = MirrorHarness.Blob.Length - 20_000;
        // The product's grace period, not the harness's 600 ms: a pause of the test machine before the stall point
        // would otherwise count as a stall and resume from an earlier offset than the one asserted.
        await using var harness = await MirrorHarness.StartAsync(
            [new PeerSetup(IPAddress.Parse("127.0.0.2"), PeerBehaviour.StallAfter, stopsAt), new PeerSetup(IPAddress.Parse("127.0.0.3"), PeerBehaviour.Good, 0)],
            routes: null, options => options with { RateGracePeriod = MirrorOptions.DefaultRateGracePeriod });
        using var http = harness.Client();
        Assert.Equal(MirrorHarness.Blob, await http.GetByteArrayAsync(BlobPath));
        Assert.Equal(1, harness.Stats.Resumes);
        Assert.Contains($"bytes={stopsAt}-{MirrorHarness.Blob.Length - 1}", harness.Peers[1].RangesAsked);
    }

    /// <summary>
    /// What a peer sent reaches the client before the peer's next bytes do, whatever the relay batches: a peer that
    /// stops (a slow upstream behind a download in progress, a stall not yet detected) never keeps bytes it already sent
    /// from the client. The stall limit is far beyond the test's guard, so only the relay's own flushing can pass it.
    /// </summary>
    [Fact]
    public async Task BytesAPeerSentReachTheClientBeforeItSendsMore()
    {
        const int sent = 1_000_000;
        await using var harness = await MirrorHarness.StartAsync(
            [new PeerSetup(IPAddress.Parse("127.0.0.2"), PeerBehaviour.StallAfter, sent)], routes: null, options => options with { RateGracePeriod = TimeSpan.FromMinutes(10) });
        using var http = harness.Client();
        using var response = await http.GetAsync(BlobPath, HttpCompletionOption.ResponseHeadersRead);
        await using var body = await response.Content.ReadAsStreamAsync();
        byte[] received = new byte[sent];
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await body.ReadExactlyAsync(received, guard.Token);
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"the {sent} bytes the peer sent did not reach the client while the peer waited");
        }

        Assert.Equal(MirrorHarness.Blob.AsSpan(0, sent).ToArray(), received);
    }
}
