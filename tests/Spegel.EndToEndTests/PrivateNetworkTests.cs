using System.Text.Json;
using Spegel.Libp2p.Pnet;
using Spegel.Testbed;

namespace Spegel.EndToEndTests;

/// <summary>
/// Issue 11, admission: <c>--router-swarm-key-path</c> on real nodes (network namespaces, containerd per node). n1 and
/// n2 share a swarm key, n3 has another. n1 pulls an image from upstream, then upstream stops: n2 pulls it from n1;
/// n3 is never admitted (its dials and n1's answers do not decrypt), so it is never ready and its pull fails.
/// </summary>
public sealed class PrivateNetworkTests
{
    [Fact]
    public async Task NodesWithTheSameKeyMirrorAndANodeWithAnotherKeyIsNotAdmitted()
    {
        string root = Directory.CreateTempSubdirectory("sp-pnet-").FullName;
        try
        {
            string shared = Path.Combine(root, "swarm.key");
            string other = Path.Combine(root, "other.key");
            await File.WriteAllTextAsync(shared, SwarmKey.Generate().ToFileText());
            await File.WriteAllTextAsync(other, SwarmKey.Generate().ToFileText());
            var layout = new OciLayout(Path.Combine(root, "layout"));
            var image = TestImages.BuildImage(layout, "spegeltest/pnet", "1", [1024 * 1024, 3000], seed: 1100);
            await using var cluster = await Cluster.StartAsync(root, 3, new ClusterOptions
            {
                NodeSpegelArgs = i => ["--router-swarm-key-path", i == 3 ? other : shared],
                WaitReady = i => i != 3,
            });
            var (n1, n2, n3) = (cluster.Nodes[0], cluster.Nodes[1], cluster.Nodes[2]);

            await TestImages.PushAsync(layout, image, cluster.UpstreamAddress, cluster.Upstream.Netns);
            (await n1.PullAsync(cluster.Reference(image))).EnsureSuccess("n1 pulling from upstream");
            await cluster.Upstream.StopAsync();

            // Members: n2 finds n1's image and pulls every blob from n1.
            await Network.WaitUntilAsync(
                async () => await Network.StatusAsync($"http://{n2.RegistryAddress}/v2/{image.Repository}/manifests/{image.Tag}?ns={cluster.UpstreamAddress}", n2.Netns) == 200,
                TimeSpan.FromSeconds(30),
                "the image findable from n2",
                n2.ReadSpegelLog);
            (await n2.PullAsync(cluster.Reference(image))).EnsureSuccess("n2 pulling through spegel from n1");
            Assert.Contains(RequestLogEntry.Parse(n2.ReadSpegelLog()), e => e.Handler == "blob" && e.Source == $"peer {n1.Address}" && e.Status is 200 or 206);
            Assert.Equal(
                (await n2.Containerd.ContentDigestsAsync()).Order().ToList(),
                (await n1.Containerd.ContentDigestsAsync()).Order().ToList());

            // The stranger: n1 refused its connections, saying why; nobody ever connected to it or from it.
            await Network.WaitUntilAsync(
                () => Task.FromResult(JsonStates(n1, 2004).Any(s => Text(s, "remote").StartsWith(n3.Address + ":", StringComparison.Ordinal) && Text(s, "reason").Contains("swarm key", StringComparison.Ordinal))),
                TimeSpan.FromSeconds(60),
                "n1 refusing n3's handshake",
                n1.ReadSpegelLog);
            Assert.Contains(JsonStates(n1, 2002), s => Text(s, "peer") == n2.PeerId); // the positive control
            foreach (var (node, stranger) in new[] { (n1, n3), (n2, n3), (n3, n1), (n3, n2) })
            {
                Assert.DoesNotContain(JsonStates(node, 2002), s => Text(s, "peer") == stranger.PeerId);
            }

            Assert.NotEqual(200, await Network.StatusAsync($"http://{n3.RegistryAddress}/healthz", n3.Netns));
            var refused = await n3.PullAsync(cluster.Reference(image), timeout: TimeSpan.FromSeconds(90));
            Assert.NotEqual(0, refused.ExitCode);
            Assert.Empty(await n3.Containerd.ContentDigestsAsync());

            // The log says which network each node is in: the same fingerprint for n1 and n2, another for n3.
            string Fingerprint(ClusterNode node) => Text(Assert.Single(JsonStates(node, 1410)), "fingerprint");
            Assert.Equal(Fingerprint(n1), Fingerprint(n2));
            Assert.NotEqual(Fingerprint(n1), Fingerprint(n3));
        }
        finally
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static string Text(JsonElement state, string name) => state.TryGetProperty(name, out var value) ? value.GetString() ?? string.Empty : string.Empty;

    /// <summary>A node's JSON log lines (slog shape, attributes flat) with one event id.</summary>
    private static List<JsonElement> JsonStates(ClusterNode node, int eventId) => JsonLog.Events(node.ReadSpegelLog(), eventId);
}
