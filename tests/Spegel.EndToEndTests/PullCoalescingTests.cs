using Spegel.Testbed;
using Xunit.Abstractions;

namespace Spegel.EndToEndTests;

/// <summary>
/// The cold "thundering herd": every node pulls a new image at the same moment, nobody holds it yet. One node
/// downloads each blob from the upstream; the others follow its download as it arrives. Checked by the bytes the
/// upstream sent (its veth counter), not by time.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class PullCoalescingTests(ClusterFixture fixture, ITestOutputHelper output)
{
    private const long LayerBytes = 24L * 1000 * 1000;

    [Fact]
    public async Task FourNodesPullingANewImageAtOnceGetItFromTheUpstreamOnce()
    {
        var layout = new OciLayout(Path.Combine(fixture.Root, "herd-layout"));
        var image = TestImages.BuildImage(layout, "spegeltest/herd", "1", [LayerBytes], seed: 900);
        await fixture.Cluster.Upstream.StartAsync();
        try
        {
            await TestImages.PushAsync(layout, image, fixture.Cluster.UpstreamAddress, fixture.Cluster.Upstream.Netns);
            await TestNetwork.ShapeAsync(fixture.Cluster.Upstream.Netns!, "100mbit");
            var nodes = fixture.Cluster.Nodes;
            double[] before = await Task.WhenAll(nodes.Select(n => SampleAsync(n, "spegel_coalesced_pulls_total", ("role", "leader"))));
            var contentBefore = await Task.WhenAll(nodes.Select(n => n.Containerd.ContentDigestsAsync()));
            long sentBefore = TestNetwork.SentBytes("reg");

            var pulls = await Task.WhenAll(nodes.Select(n => n.PullAsync(fixture.Ref(image), TimeSpan.FromMinutes(2))));
            long sent = TestNetwork.SentBytes("reg") - sentBefore;

            for (int i = 0; i < nodes.Count; i++)
            {
                Assert.True(pulls[i].ExitCode == 0, $"{nodes[i].Name}: {pulls[i].StandardError}");
            }

            // Without coalescing the upstream sends the layer four times (~96 MB); with it, about once.
            Assert.True(sent < LayerBytes * 1.6, $"the upstream sent {sent} bytes for a {LayerBytes}-byte layer pulled by {nodes.Count} nodes");

            // containerd verified every digest; every node gained the same three blobs (manifest, config, layer).
            var contentAfter = await Task.WhenAll(nodes.Select(n => n.Containerd.ContentDigestsAsync()));
            var added = contentAfter.Select((c, i) => c.Except(contentBefore[i]).Order().ToList()).ToList();
            Assert.Equal(3, added[0].Count);
            Assert.All(added, a => Assert.Equal(added[0], a));
            output.WriteLine($"upstream sent {sent} bytes for a {LayerBytes}-byte layer pulled by {nodes.Count} nodes at once");

            double leaders = 0;
            for (int i = 0; i < nodes.Count; i++)
            {
                leaders += await SampleAsync(nodes[i], "spegel_coalesced_pulls_total", ("role", "leader")) - before[i];
            }

            Assert.True(leaders >= 1, "no node led a download");
            Assert.Contains(nodes, n => RequestLogEntry.Parse(n.ReadSpegelLog()).Any(e => e.Source == "in-progress" && e.Path.Contains("/spegeltest/herd/", StringComparison.Ordinal)));
        }
        finally
        {
            await TestNetwork.ShapeAsync(fixture.Cluster.Upstream.Netns!, null);
            await fixture.Cluster.Upstream.StopAsync();
        }
    }

    private static async Task<double> SampleAsync(ClusterNode node, string name, params (string, string)[] labels) =>
        SpegelProcess.Sample(await node.Spegel!.ScrapeAsync(), name, labels) ?? 0;
}
