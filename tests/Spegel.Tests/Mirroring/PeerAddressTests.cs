using System.Net;
using Spegel.Mirroring;

namespace Spegel.Tests.Mirroring;

/// <summary>
/// A peer found with several addresses (dual-stack: IPv4 and IPv6; or several IPv4) is dialed on all of them,
/// Happy-Eyeballs style (<see cref="PeerDialer"/>), not only on the first. Fault injection on loopback: a
/// <see cref="BlackHole"/> swallows SYNs, an address nobody listens on refuses.
/// </summary>
public sealed class PeerAddressTests
{
    private static readonly string BlobPath = $"/v2/library/app/blobs/{MirrorHarness.BlobDigest}?ns=docker.io";
    private static readonly IPAddress Dead = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress Good = IPAddress.Parse("127.0.0.3");
    private static readonly IPAddress Refusing = IPAddress.Parse("127.0.0.4");

    /// <summary>
    /// Timeouts far longer than the client's 30 s: a mirror that waited on the black-holed address would fail the
    /// request by the client's timeout, so the assertions need no clock.
    /// </summary>
    private static MirrorOptions Patient(MirrorOptions options) => options with
    {
        ConnectTimeout = TimeSpan.FromMinutes(10),
        HeaderTimeout = TimeSpan.FromMinutes(10),
        RateGracePeriod = TimeSpan.FromMinutes(10),
    };

    [Fact]
    public async Task APeerWhoseFirstAddressIsBlackHoledIsReachedOnItsSecond()
    {
        await using var harness = await MirrorHarness.StartAsync(
            [new PeerSetup(Dead, PeerBehaviour.BlackHole), new PeerSetup(Good, PeerBehaviour.Good)],
            routes: [[Dead, Good]],
            Patient);
        using var http = harness.Client();

        Assert.Equal(MirrorHarness.Blob, await http.GetByteArrayAsync(BlobPath));
        Assert.Equal(MirrorHarness.Manifest, await http.GetByteArrayAsync($"/v2/library/app/manifests/{MirrorHarness.ManifestDigest}?ns=docker.io"));
        Assert.Equal(0, harness.Stats.PeerFailures);
        Assert.True(harness.Peers.Single().Requests >= 2);
    }

    [Fact]
    public async Task APeerWhoseFirstAddressRefusesIsReachedOnItsSecond()
    {
        await using var harness = await MirrorHarness.StartAsync([new PeerSetup(Good, PeerBehaviour.Good)], routes: [[Refusing, Good]], Patient);
        using var http = harness.Client();

        Assert.Equal(MirrorHarness.Blob, await http.GetByteArrayAsync(BlobPath));
        Assert.Equal(0, harness.Stats.PeerFailures);
    }

    [Fact]
    public async Task ADualStackPeerWithBlackHoledIPv4IsReachedOverIPv6()
    {
        // The peer lists IPv4 first; IPv6 is dialed first anyway (as Spegel and RFC 8305 order them).
        await using var harness = await MirrorHarness.StartAsync(
            [new PeerSetup(Dead, PeerBehaviour.BlackHole), new PeerSetup(IPAddress.IPv6Loopback, PeerBehaviour.Good)],
            routes: [[Dead, IPAddress.IPv6Loopback]],
            Patient);
        using var http = harness.Client();

        Assert.Equal(MirrorHarness.Blob, await http.GetByteArrayAsync(BlobPath));
        Assert.Equal(0, harness.Stats.PeerFailures);
    }

    [Fact]
    public async Task ADualStackPeerWithBlackHoledIPv6IsReachedOverIPv4()
    {
        await using var harness = await MirrorHarness.StartAsync(
            [new PeerSetup(IPAddress.IPv6Loopback, PeerBehaviour.BlackHole), new PeerSetup(Good, PeerBehaviour.Good)],
            routes: [[Good, IPAddress.IPv6Loopback]],
            Patient);
        using var http = harness.Client();

        Assert.Equal(MirrorHarness.Blob, await http.GetByteArrayAsync(BlobPath));
        Assert.Equal(0, harness.Stats.PeerFailures);
    }

    [Fact]
    public async Task AnIPv6PeerIsAskedOnItsBracketedAddress()
    {
        await using var harness = await MirrorHarness.StartAsync([new PeerSetup(IPAddress.IPv6Loopback, PeerBehaviour.Good)], routes: [[IPAddress.IPv6Loopback]]);
        using var http = harness.Client();

        Assert.Equal(MirrorHarness.Blob, await http.GetByteArrayAsync(BlobPath));
        using var head = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v2/library/app/manifests/{MirrorHarness.ManifestDigest}?ns=docker.io"));
        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(2, harness.Peers.Single().Requests);
    }

    [Fact]
    public async Task APeerWithNoAddressAnsweringIsOneFailureAndA404()
    {
        await using var harness = await MirrorHarness.StartAsync([], routes: [[Refusing, IPAddress.Parse("127.0.0.5")]]);
        using var http = harness.Client();

        using var response = await http.GetAsync(BlobPath);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(1, harness.Stats.PeerFailures);
    }

    [Fact]
    public void AddressesAreOrderedIPv6FirstWithTheFamiliesInterleaved()
    {
        IPAddress[] given = [.. new[] { "10.0.0.1", "10.0.0.2", "fd77:77::1", "::ffff:10.0.0.3", "fd77:77::2", "fd77:77::3" }.Select(IPAddress.Parse)];
        Assert.Equal(
            ["fd77:77::1", "10.0.0.1", "fd77:77::2", "10.0.0.2", "fd77:77::3", "10.0.0.3"],
            PeerDialer.Order(given).Select(a => a.ToString()));
        Assert.Equal("fd77:77::1", PeerDialer.Preferred(given).ToString());
        Assert.Equal("10.0.0.3", PeerDialer.Preferred([IPAddress.Parse("::ffff:10.0.0.3"), IPAddress.Parse("10.0.0.1")]).ToString());
    }
}
