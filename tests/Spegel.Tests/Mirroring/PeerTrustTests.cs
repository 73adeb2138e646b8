using System.Net;
using System.Net.Http.Headers;
using Spegel.Mirroring;
using Spegel.Oci;
using Spegel.Registry;
using Spegel.Telemetry;

namespace Spegel.Tests.Mirroring;

/// <summary>
/// What our node accepts from peers (A2, A3 and A8 of the security audit): a tag is served only when independent
/// peers agree on it (or, with a swarm key, from one admitted member, verified); HEAD and GET alike; a whole blob only
/// from a 200; containerd's credentials never reach a peer.
/// </summary>
public sealed class PeerTrustTests
{
    private const string TagPath = "/v2/library/app/manifests/1?ns=docker.io";
    private static readonly string BlobPath = $"/v2/library/app/blobs/{MirrorHarness.BlobDigest}?ns=docker.io";

    /// <summary>A cluster with a swarm key: members are admitted, so one answer suffices (and is still verified).</summary>
    private static MirrorOptions Admitted(MirrorOptions options) => options with { TagConfirmations = 1 };

    [Fact]
    public async Task ATagOnlyOnePeerAnswersIsNotResolvedThroughPeers()
    {
        await using var harness = await MirrorHarness.StartAsync((PeerBehaviour.Good, 0));
        using var http = harness.Client();

        using var get = await http.GetAsync(TagPath);
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode); // containerd then resolves the tag upstream
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, TagPath));
        Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);

        Assert.Equal(2, harness.Peers[0].Requests); // it was asked (and could have lied): one voice is not enough
        Assert.Equal(2, harness.Refusals.Count(RefusalReason.TagUnconfirmed));
        Assert.Equal(0, harness.Stats.Served);
    }

    [Fact]
    public async Task ATagTwoIndependentPeersAgreeOnIsServedAndHeadIsVerifiedLikeGet()
    {
        await using var harness = await MirrorHarness.StartAsync((PeerBehaviour.Good, 0), (PeerBehaviour.Good, 0));
        using var http = harness.Client();

        using var get = await http.GetAsync(TagPath);
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(MirrorHarness.Manifest, await get.Content.ReadAsByteArrayAsync());
        Assert.Equal(MirrorHarness.ManifestDigest, get.Headers.GetValues("Docker-Content-Digest").Single());

        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, TagPath));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(MirrorHarness.ManifestDigest, head.Headers.GetValues("Docker-Content-Digest").Single());
        Assert.Equal(MirrorHarness.Manifest.Length, head.Content.Headers.ContentLength);
        Assert.Equal(MediaTypes.OciManifest, head.Content.Headers.ContentType!.MediaType);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync());

        // A HEAD is answered from bytes that were checked: peers were asked with GET both times.
        Assert.All(harness.Peers.SelectMany(p => p.Seen), seen => Assert.Equal("GET", seen.Method));
        Assert.Equal([2, 2], harness.Peers.Select(p => p.Requests));
    }

    [Fact]
    public async Task TwoRecordsNamingOneAddressAreOneVoice()
    {
        // Sybils: two provider records (two peer IDs) with the same IP. The second is skipped without being asked.
        var address = IPAddress.Parse("127.0.0.2");
        await using var harness = await MirrorHarness.StartAsync([new PeerSetup(address, PeerBehaviour.Evil)], routes: [[address], [address]]);
        using var http = harness.Client();

        using var get = await http.GetAsync(TagPath);
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        Assert.Equal(1, harness.Peers[0].Requests);
        Assert.Equal(1, harness.Refusals.Count(RefusalReason.TagUnconfirmed));
    }

    [Fact]
    public async Task OneEvilPeerCannotHijackATagHeadOrGet()
    {
        await using (var harness = await MirrorHarness.StartAsync((PeerBehaviour.Evil, 0), (PeerBehaviour.Good, 0)))
        {
            using var http = harness.Client();
            using var get = await http.GetAsync(TagPath);
            Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
            using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, TagPath));
            Assert.Equal(HttpStatusCode.NotFound, head.StatusCode);
            Assert.Equal(2, harness.Refusals.Count(RefusalReason.TagDisagreement));
        }

        // Asked first, the liar is outvoted by two honest peers: their manifest is served, HEAD and GET.
        await using (var harness = await MirrorHarness.StartAsync((PeerBehaviour.Evil, 0), (PeerBehaviour.Good, 0), (PeerBehaviour.Good, 0)))
        {
            using var http = harness.Client();
            Assert.Equal(MirrorHarness.Manifest, await http.GetByteArrayAsync(TagPath));
            using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, TagPath));
            Assert.Equal(MirrorHarness.ManifestDigest, head.Headers.GetValues("Docker-Content-Digest").Single());
            Assert.Equal([2, 2, 2], harness.Peers.Select(p => p.Requests));
        }
    }

    [Fact]
    public async Task WithAdmittedMembersOneVerifiedAnswerServesATag()
    {
        await using var harness = await MirrorHarness.StartAsync([new PeerSetup(IPAddress.Parse("127.0.0.2"), PeerBehaviour.Good)], routes: null, Admitted);
        using var http = harness.Client();
        Assert.Equal(MirrorHarness.Manifest, await http.GetByteArrayAsync(TagPath));
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, TagPath));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(MirrorHarness.ManifestDigest, head.Headers.GetValues("Docker-Content-Digest").Single());
    }

    [Fact]
    public async Task APeerNamingOtherContentThanItSentIsRefusedForHeadAsForGet()
    {
        await using var harness = await MirrorHarness.StartAsync(
            [new PeerSetup(IPAddress.Parse("127.0.0.2"), PeerBehaviour.WrongDigestHeader), new PeerSetup(IPAddress.Parse("127.0.0.3"), PeerBehaviour.Good)], routes: null, Admitted);
        using var http = harness.Client();

        // Before: a HEAD passed the peer's Docker-Content-Digest on unverified (B7 of the audit).
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, TagPath));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(MirrorHarness.ManifestDigest, head.Headers.GetValues("Docker-Content-Digest").Single());
        using var get = await http.GetAsync(TagPath);
        Assert.Equal(MirrorHarness.ManifestDigest, get.Headers.GetValues("Docker-Content-Digest").Single());
        Assert.Equal(2, harness.Refusals.Count(RefusalReason.DigestHeaderMismatch));
        Assert.Equal([2, 2], harness.Peers.Select(p => p.Requests));
    }

    [Fact]
    public async Task AnAnswerWithoutADigestIsNamedByItsBytes()
    {
        await using var harness = await MirrorHarness.StartAsync([new PeerSetup(IPAddress.Parse("127.0.0.2"), PeerBehaviour.NoDigestHeader)], routes: null, Admitted);
        using var http = harness.Client();
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, TagPath));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(MirrorHarness.ManifestDigest, head.Headers.GetValues("Docker-Content-Digest").Single());
    }

    [Theory]
    [InlineData(PeerBehaviour.PartialForWhole)]
    [InlineData(PeerBehaviour.UnsatisfiableForWhole)]
    public async Task AWholeBlobIsNeverTakenFromA206Or416(PeerBehaviour liar)
    {
        await using var harness = await MirrorHarness.StartAsync((liar, 0), (PeerBehaviour.Good, 0));
        using var http = harness.Client();

        // Before: the 206 (every byte, one flipped) was relayed unverified as a complete answer (B7 of the audit).
        using var get = await http.GetAsync(BlobPath);
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
        Assert.Equal(MirrorHarness.Blob, await get.Content.ReadAsByteArrayAsync());
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, BlobPath));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(MirrorHarness.Blob.Length, head.Content.Headers.ContentLength);

        Assert.Equal(2, harness.Refusals.Count(RefusalReason.PartialForWhole));
        Assert.Equal([2, 2], harness.Peers.Select(p => p.Requests));
        Assert.Equal(2, harness.Stats.Instruments.Refused.WithLabels("partial_for_whole").Value);
    }

    [Fact]
    public async Task ARangeIsStillAnsweredWithThePeers206()
    {
        await using var harness = await MirrorHarness.StartAsync((PeerBehaviour.Good, 0));
        using var http = harness.Client();
        using var request = new HttpRequestMessage(HttpMethod.Get, BlobPath);
        request.Headers.Range = new RangeHeaderValue(10, 19);
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal(MirrorHarness.Blob[10..20], await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(0, harness.Refusals.Count(RefusalReason.PartialForWhole));
    }

    [Fact]
    public async Task ABlobHeadIsNamedWithTheDigestAskedFor()
    {
        await using var harness = await MirrorHarness.StartAsync((PeerBehaviour.WrongDigestHeader, 0), (PeerBehaviour.Good, 0));
        using var http = harness.Client();
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, BlobPath));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(MirrorHarness.BlobDigest, head.Headers.GetValues("Docker-Content-Digest").Single());
        Assert.Equal(1, harness.Refusals.Count(RefusalReason.DigestHeaderMismatch));
    }

    [Fact]
    public async Task ContainerdsCredentialsNeverReachAPeer()
    {
        using var temp = new TempFolder();
        temp.Write("username", "spegel");
        temp.Write("password", "cluster-secret");
        var auth = BasicAuth.Load(temp.Path);
        await using var harness = await MirrorHarness.StartAsync(
            [new PeerSetup(IPAddress.Parse("127.0.0.2"), PeerBehaviour.Good), new PeerSetup(IPAddress.Parse("127.0.0.3"), PeerBehaviour.Good)],
            routes: null,
            options => options with { PeerKey = PeerKey.FromBasicAuth(auth.HeaderValue!) },
            auth);
        using var http = harness.Client();
        http.DefaultRequestHeaders.Authorization = AuthenticationHeaderValue.Parse(auth.HeaderValue!);

        Assert.Equal(MirrorHarness.Blob, await http.GetByteArrayAsync(BlobPath));
        Assert.Equal(MirrorHarness.Manifest, await http.GetByteArrayAsync(TagPath));
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, BlobPath));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);

        var seen = harness.Peers.SelectMany(p => p.Seen).ToList();
        Assert.True(seen.Count >= 4, $"{seen.Count} peer requests");
        Assert.All(seen, s => Assert.Null(s.Authorization));
        Assert.All(seen, s => Assert.True(PeerProof.Parse(s.Proof) is { } proof && proof.Verify(PeerKey.FromBasicAuth(auth.HeaderValue!), s.Method, s.Host!, s.Target)));
        Assert.Equal(seen.Count, seen.Select(s => s.Proof).Distinct().Count()); // a nonce each
    }
}
