using System.Text.Json;
using Spegel.Testbed;

namespace Spegel.EndToEndTests;

/// <summary>
/// Issue 9: IPv6 end to end, on real containerd in network namespaces with addresses in fd77:77::/64 (guarded like
/// the IPv4 test subnet). n1 is dual-stack (IPv6 primary, spegel on <c>:5000</c>/<c>:5001</c>), n2 and n3 are
/// IPv6-only (registry <c>[::]:5000</c>, router <c>[fd77:77::N]:5001</c>). The chart's unbracketed mirror target
/// <c>http://$(NODE_IP):5000</c> is written bracketed; containerd reaches its own spegel on loopback (containerd 1.6
/// cannot read an IPv6 mirror from hosts.toml, see <see cref="ClusterNode.ContainerdMirrorTarget"/>). n2 bootstraps
/// off n1's <c>/ip6/…/p2p/…</c> multiaddr, n3 by DNS: the bootstrap name resolves (through its namespace's
/// /etc/hosts) to every node's A and AAAA records. The upstream
/// registry is IPv4-only, so what n2 and n3 pull can only come from peers, over IPv6. n4 is dual-stack and pulls from
/// n1 while n1's IPv6 registry port is black-holed: it must fall back to n1's IPv4 address.
/// </summary>
public sealed class IPv6Tests
{
    [Fact]
    public async Task IPv6OnlyAndDualStackNodesPullFromPeersOverIPv6AndFallBackToIPv4()
    {
        string root = Directory.CreateTempSubdirectory("sp-ipv6-").FullName;
        try
        {
            var layout = new OciLayout(Path.Combine(root, "layout"));
            var image = TestImages.BuildImage(layout, "spegeltest/ipv6", "1", [3 * 1024 * 1024, 300 * 1024, 2000], seed: 900);
            var other = TestImages.BuildImage(layout, "spegeltest/dualstack", "1", [1024 * 1024, 5000], seed: 901);
            string swarmKey = Path.Combine(root, "swarm.key"); // admitted members: a tag one node holds resolves from it
            await File.WriteAllTextAsync(swarmKey, Spegel.Libp2p.Pnet.SwarmKey.Generate().ToFileText());
            await using var cluster = await Cluster.StartAsync(root, 4, new ClusterOptions
            {
                SpegelArgs = ["--router-swarm-key-path", swarmKey],
                Stack = i => i is 1 or 4 ? NodeStack.DualStack : NodeStack.IPv6,
                DnsBootstrap = new HashSet<int> { 3 },
            });
            var (n1, n2, n3, n4) = (cluster.Nodes[0], cluster.Nodes[1], cluster.Nodes[2], cluster.Nodes[3]);

            // What the chart's init container runs on an IPv6 node, `--mirror-targets http://fd77:77::2:5000`, writes the
            // target bracketed, as Spegel does. (containerd 1.6 here cannot read that file: see ContainerdMirrorTarget.)
            string chartHosts = Path.Combine(root, "chart-certs.d");
            await cluster.ConfigureMirrorAsync(n2, chartHosts, n2.ChartMirrorTarget);
            Assert.Equal("http://fd77:77::2:5000", n2.ChartMirrorTarget);
            Assert.Equal(
                "server = 'http://10.77.0.100:5000'\n\n[host.'http://[fd77:77::2]:5000']\ncapabilities = ['pull', 'resolve']\ndial_timeout = '200ms'",
                await File.ReadAllTextAsync(Path.Combine(chartHosts, cluster.UpstreamAddress, "hosts.toml")));

            foreach (var pushed in new[] { image, other })
            {
                await TestImages.PushAsync(layout, pushed, cluster.UpstreamAddress, cluster.Upstream.Netns);
                (await n1.PullAsync(cluster.Reference(pushed))).EnsureSuccess($"n1 pulling {pushed.Repository} from upstream");
            }

            await cluster.Upstream.StopAsync();

            // IPv6-only nodes: n2 bootstrapped off n1's /ip6/ multiaddr, n3 by DNS.
            foreach (var node in new[] { n2, n3 })
            {
                await WaitFindableAsync(cluster, node, image);
                (await node.PullAsync(cluster.Reference(image))).EnsureSuccess($"{node.Name} pulling through spegel over IPv6");
            }

            var n1Content = (await n1.Containerd.ContentDigestsAsync()).ToHashSet();
            var n2Content = (await n2.Containerd.ContentDigestsAsync()).Order().ToList();
            Assert.True(n2Content.Count >= 5, string.Join(' ', n2Content)); // manifest, config, 3 layers
            Assert.Subset(n1Content, n2Content.ToHashSet());
            Assert.Equal(n2Content, (await n3.Containerd.ContentDigestsAsync()).Order().ToList());

            // n1 served n2's spegel over IPv6; n2's log names n1 by its IPv6 address (dialed first).
            Assert.Contains(RequestLogEntry.Parse(n1.ReadSpegelLog()), e => e.Handler == "blob" && e.Ip == "fd77:77::2" && e.Status is 200 or 206);
            Assert.Contains(RequestLogEntry.Parse(n2.ReadSpegelLog()), e => e.Handler == "blob" && e.Source == "peer fd77:77::1");
            Assert.Contains(RequestLogEntry.Parse(n3.ReadSpegelLog()), e => e.Handler == "blob" && e.Source.StartsWith("peer fd77:77::", StringComparison.Ordinal));

            // Announced multiaddrs: n1 both families on its wildcard listener, n2 its IPv6 address.
            Assert.Contains("/ip4/10.77.0.1/tcp/5001", Announced(n1), StringComparison.Ordinal);
            Assert.Contains("/ip6/fd77:77::1/tcp/5001", Announced(n1), StringComparison.Ordinal);
            Assert.Contains("/ip6/fd77:77::2/tcp/5001", Announced(n2), StringComparison.Ordinal);

            // DNS bootstrap read the namespace's /etc/hosts: A records of n1 and n4, the first three AAAA records
            // (n1, n2, n3) less n3 itself; at least one peer answered.
            Assert.Contains(JsonStates(n3, 1401), s => s.GetProperty("targets").GetInt32() == 4 && s.GetProperty("connected").GetInt32() >= 1);

            // Metrics over IPv6 (default --metrics-addr :9090, scraped at [fd77:77::2]:9090).
            Assert.True(SpegelProcess.Sample(await n2.Spegel!.ScrapeAsync(), "spegel_peer_bytes_fetched_total") > 3 * 1024 * 1024);

            // A dual-stack peer whose IPv6 registry port is black-holed (SYNs dropped inside n1) is reached over IPv4:
            // n4 dials n1's IPv6 address first and falls back to 10.77.0.1.
            string cut = Path.Combine(root, "cut.nft");
            await File.WriteAllTextAsync(cut, "table inet cut {\n  chain input { type filter hook input priority 0; policy accept; ip6 daddr fd77:77::1 tcp dport 5000 drop; }\n}\n");
            (await TestNetwork.ExecAsync(n1.Netns, [Tools.Nft, "-f", cut])).EnsureSuccess("black-holing n1's IPv6 registry port");
            await WaitFindableAsync(cluster, n4, other);
            (await n4.PullAsync(cluster.Reference(other))).EnsureSuccess("n4 pulling from n1 over IPv4");
            Assert.Contains(RequestLogEntry.Parse(n1.ReadSpegelLog()), e => e.Handler == "blob" && e.Ip.EndsWith("10.77.0.4", StringComparison.Ordinal) && e.Status is 200 or 206);
            Assert.DoesNotContain(RequestLogEntry.Parse(n1.ReadSpegelLog()), e => e.Ip == "fd77:77::4");
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

    private static Task WaitFindableAsync(Cluster cluster, ClusterNode node, TestImage image) =>
        Network.WaitUntilAsync(
            async () => await Network.StatusAsync($"http://{node.RegistryAddress}/v2/{image.Repository}/manifests/{image.Tag}?ns={cluster.UpstreamAddress}", node.Netns) == 200,
            TimeSpan.FromSeconds(30),
            $"{image.Repository} findable from {node.Name}",
            node.ReadSpegelLog);

    /// <summary>What the libp2p host announces (event 2001 of Libp2pHost).</summary>
    private static string Announced(ClusterNode node) =>
        string.Join('\n', JsonStates(node, 2001).Select(s => s.TryGetProperty("addresses", out var a) ? a.GetString() : null).OfType<string>());

    /// <summary>A node's JSON log lines (slog shape, attributes flat) with one event id.</summary>
    private static List<JsonElement> JsonStates(ClusterNode node, int eventId) => JsonLog.Events(node.ReadSpegelLog(), eventId);
}
