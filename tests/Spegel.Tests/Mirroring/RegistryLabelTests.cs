using System.Net;
using System.Text;
using Prometheus;
using Spegel.Mirroring;
using Spegel.Oci;
using Spegel.Tests.Registry;
using Spegel.Telemetry;

namespace Spegel.Tests.Mirroring;

/// <summary>
/// <c>spegel_mirror_requests_total{registry}</c> never takes request text: the audit's 20,000 unique <c>ns</c> values
/// made 20,000 series. Registries this node holds (or the configured ones) keep their name, any other is <c>other</c>.
/// </summary>
public sealed class RegistryLabelTests
{
    [Fact]
    public async Task UniqueNsValuesFromClientsAddNoSeries()
    {
        await using var harness = await MirrorHarness.StartAsync([new PeerSetup(IPAddress.Parse("127.0.0.2"), PeerBehaviour.NotFound, 0)], routes: null);
        for (int i = 0; i < 50; i++)
        {
            var response = await RawHttp.GetAsync(harness.Port, $"/v2/library/app/blobs/sha256:{i:x64}?ns=registry-{i}.example");
            Assert.Equal(404, response.Status);
        }

        Assert.Equal(404, (await RawHttp.GetAsync(harness.Port, $"/v2/library/app/blobs/sha256:{99:x64}?ns=docker.io")).Status);

        var series = (await ExportAsync(harness.Stats.Instruments)).Split('\n').Where(l => l.StartsWith("spegel_mirror_requests_total{", StringComparison.Ordinal)).ToList();
        Assert.Equal(
            ["spegel_mirror_requests_total{registry=\"docker.io\",cache=\"miss\"} 1", "spegel_mirror_requests_total{registry=\"other\",cache=\"miss\"} 50"],
            series.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void ARegistryIsNamedWhenConfiguredOrHeldHereElseOther()
    {
        // Every registry mirrored: only the ones this node holds content of (the advertiser says so) keep their name.
        var all = new MirrorStats();
        all.OnMiss("quay.io");
        all.Instruments.Registries.Know("quay.io");
        all.OnMiss("quay.io");
        Assert.Equal(1, all.Instruments.MirrorRequests.WithLabels(RegistryLabels.Other, "miss").Value);
        Assert.Equal(1, all.Instruments.MirrorRequests.WithLabels("quay.io", "miss").Value);

        // --mirrored-registries: requests for other registries are 404 before they are counted, so the name is kept.
        RegistryUrl.TryParse("https://ghcr.io", true, out var ghcr, out _);
        var listed = new MirrorStats(policy: new ContentPolicy([ghcr!], [], true));
        listed.OnServed("ghcr.io");
        Assert.Equal(1, listed.Instruments.MirrorRequests.WithLabels("ghcr.io", "hit").Value);
    }

    [Fact]
    public void LearnedRegistriesAreBounded()
    {
        var labels = new RegistryLabels();
        for (int i = 0; i < 10_000; i++)
        {
            labels.Know($"r{i}");
        }

        Assert.Equal(RegistryLabels.MaxKnown, Enumerable.Range(0, 10_000).Count(i => labels.Of($"r{i}") != RegistryLabels.Other));
    }

    private static async Task<string> ExportAsync(SpegelInstruments instruments)
    {
        using var buffer = new MemoryStream();
        await instruments.Registry.CollectAndExportAsTextAsync(buffer);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
