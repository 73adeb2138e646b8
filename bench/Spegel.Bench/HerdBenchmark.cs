using System.Diagnostics;
using System.Globalization;
using Spegel.Testbed;

namespace Spegel.Bench;

/// <summary>
/// The cold "thundering herd", again and again in one run (issue 12, goals 2 and 3): does pull coalescing hold every
/// time? Each round, for each image size, on fresh images: one node pulls an image alone through spegel (the lone
/// pull, the same-run baseline of a herd's pull time), then every node pulls a new image at once through spegel (the
/// herd), then every node pulls another new image at once straight from the upstream (no mirror: the other baseline).
/// Reports per round the upstream bytes of the herd over the image's size (1.0× = one download for the cluster), the
/// herd's median over the lone pull and over the herd without mirror, and from the nodes' logs how many nodes led each
/// blob and how long their claims took to announce and decide.
/// </summary>
internal static class HerdBenchmark
{
    public static async Task<int> RunAsync(BenchOptions options)
    {
        var clock = Stopwatch.StartNew();
        void Progress(string text) => Console.Error.WriteLine($"[{clock.Elapsed:mm\\:ss}] {text}");
        var report = new BenchReport();
        var specs = new List<(string Name, long Bytes, int Layers)> { ("10MB×1", 10_000_000, 1), ("100MB×4", 100_000_000, 4) };
        string root = Directory.CreateTempSubdirectory("sp-herd-").FullName;
        try
        {
            var layout = new OciLayout(Path.Combine(root, "layout"));
            var images = new Dictionary<(int Round, string Spec, string Kind), TestImage>();
            int seed = 30_000;
            for (int round = 1; round <= options.Runs; round++)
            {
                foreach (var spec in specs)
                {
                    foreach (string kind in new[] { "lone", "herd", "direct" })
                    {
                        long[] sizes = Enumerable.Repeat(spec.Bytes / spec.Layers, spec.Layers).ToArray();
                        images[(round, spec.Name, kind)] = TestImages.BuildImage(layout, $"herd/{kind}-{spec.Name.Replace('×', 'x').ToLowerInvariant()}", $"r{round}", sizes, seed += 10);
                    }
                }
            }

            Progress($"starting {options.Nodes} nodes and the upstream registry; {options.Runs} rounds of {string.Join(", ", specs.Select(s => s.Name))}");
            await using var cluster = await Cluster.StartAsync(root, options.Nodes);
            foreach (var image in images.Values)
            {
                await TestImages.PushAsync(layout, image, cluster.UpstreamAddress, cluster.Upstream.Netns);
            }

            await TestNetwork.ShapeAsync(cluster.Upstream.Netns!, options.UpstreamRate);
            report.Line($"# Cold herd benchmark ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores)");
            report.Line(string.Empty);
            report.Line($"Command: `dotnet run --project bench/Spegel.Bench -c Release -- herd --nodes {options.Nodes} --runs {options.Runs} --upstream-rate {options.UpstreamRate}`");
            report.Line(string.Empty);
            report.Line($"{options.Nodes} nodes, upstream shaped to {options.UpstreamRate}. Each round, fresh images: one node pulls alone through spegel (lone), all nodes pull at once through spegel (herd), all nodes pull at once with no mirror (direct). Upstream × = bytes the upstream sent for the herd / the image's size (1.0× = one download for the whole cluster). Leaders = nodes that led a blob's download (1 per blob is coalescing; {options.Nodes} is none).");
            report.Line(string.Empty);
            report.Line("| round | image | lone | herd median (max) | direct median | herd / lone | herd / direct | upstream × | leaders per blob | fallbacks | claim announced, decided (max ms) |");
            report.Line("|---|---|---|---|---|---|---|---|---|---|---|");
            var reasons = new SortedSet<string>(StringComparer.Ordinal);
            var rows = new List<(string Spec, double Upstream, double PerLone, double PerDirect)>();
            for (int round = 1; round <= options.Runs; round++)
            {
                foreach (var spec in specs)
                {
                    await Task.WhenAll(cluster.Nodes.Select(n => n.Containerd.ClearAsync()));
                    await Task.WhenAll(cluster.Nodes.Select(n => cluster.ConfigureMirrorAsync(n)));
                    await Task.Delay(500); // withdrawals settle

                    Progress($"round {round}, {spec.Name}: lone pull");
                    var lone = await TimedPullAsync(cluster.Nodes[0], cluster.Reference(images[(round, spec.Name, "lone")]));

                    Progress($"round {round}, {spec.Name}: herd through spegel");
                    var herdImage = images[(round, spec.Name, "herd")];
                    int[] logStart = cluster.Nodes.Select(n => n.ReadSpegelLog().Length).ToArray();
                    long upstreamBefore = TestNetwork.SentBytes("reg");
                    var herd = await Task.WhenAll(cluster.Nodes.Select(n => TimedPullAsync(n, cluster.Reference(herdImage))));
                    double upstream = (TestNetwork.SentBytes("reg") - upstreamBefore) / (double)spec.Bytes;
                    var (leaders, announcedMs, decidedMs) = Decisions(cluster, logStart);
                    int fallbacks = Fallbacks(cluster, logStart, reasons);

                    Progress($"round {round}, {spec.Name}: herd with no mirror");
                    foreach (var node in cluster.Nodes)
                    {
                        Directory.Delete(node.Containerd.HostsDir, recursive: true);
                        node.Containerd.WriteDirectHosts(cluster.UpstreamAddress);
                    }

                    var direct = await Task.WhenAll(cluster.Nodes.Select(n => TimedPullAsync(n, cluster.Reference(images[(round, spec.Name, "direct")]))));
                    double herdMedian = Measure.Median(herd.ToList()), directMedian = Measure.Median(direct.ToList());
                    rows.Add((spec.Name, upstream, herdMedian / lone, herdMedian / directMedian));
                    report.Line(string.Create(
                        CultureInfo.InvariantCulture,
                        $"| {round} | {spec.Name} | {lone:0.00} s | {herdMedian:0.00} s ({herd.Max():0.00}) | {directMedian:0.00} s | {herdMedian / lone:0.00}× | {herdMedian / directMedian:0.00}× | {upstream:0.00}× | {leaders} | {fallbacks} | {announcedMs:0}, {decidedMs:0} |"));
                }
            }

            report.Line(string.Empty);
            report.Line("| image | worst upstream × | worst herd / lone | worst herd / direct |");
            report.Line("|---|---|---|---|");
            foreach (var group in rows.GroupBy(r => r.Spec))
            {
                report.Line(string.Create(CultureInfo.InvariantCulture, $"| {group.Key} | {group.Max(r => r.Upstream):0.00}× | {group.Max(r => r.PerLone):0.00}× | {group.Max(r => r.PerDirect):0.00}× |"));
            }

            report.Line(string.Empty);
            report.Line("Fallbacks: blob requests of a node's own containerd that its spegel answered 404 (containerd then went upstream), beyond the one of each blob's leader. The 404s' reasons (the leaders' included), as logged:");
            foreach (string reason in reasons)
            {
                report.Line($"- {reason}");
            }

            report.Line(string.Empty);
            report.Line($"Run took {clock.Elapsed.TotalMinutes:0.0} min.");
            await report.SaveAsync(options.Out);
            return 0;
        }
        finally
        {
            Folders.DeleteQuietly(root);
        }
    }

    private static async Task<double> TimedPullAsync(ClusterNode node, string reference)
    {
        var clock = Stopwatch.StartNew();
        (await node.PullAsync(reference, TimeSpan.FromMinutes(20))).EnsureSuccess($"{node.Name} pulling {reference}");
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>
    /// Blob requests of each node's own containerd answered 404 since <paramref name="logStart"/> (containerd then went
    /// upstream), minus one per blob led; the error texts go to <paramref name="reasons"/>.
    /// </summary>
    private static int Fallbacks(Cluster cluster, int[] logStart, ISet<string> reasons)
    {
        int notFound = 0, led = 0;
        for (int i = 0; i < cluster.Nodes.Count; i++)
        {
            var node = cluster.Nodes[i];
            string log = node.ReadSpegelLog()[logStart[i]..];
            led += JsonLog.Events(log, 1961).Count;
            foreach (var request in JsonLog.Events(log, 1301))
            {
                if (request.GetProperty("handler").GetString() == "blob" && request.GetProperty("status").GetInt32() == 404
                    && request.GetProperty("ip").GetString() is { } ip && (ip == node.Address || ip.StartsWith("127.", StringComparison.Ordinal)))
                {
                    notFound++;
                    if (request.TryGetProperty("error", out var error) && error.GetString() is { Length: > 0 } text)
                    {
                        // Digests differ per blob; the reason is the rest of the text.
                        string reason = System.Text.RegularExpressions.Regex.Replace(text, "sha256:[0-9a-f]{64}", "sha256:…");
                        reasons.Add(reason.Length > 160 ? reason[..160] : reason);
                    }
                }
            }
        }

        return notFound - led;
    }

    /// <summary>
    /// From the nodes' logs since <paramref name="logStart"/>: the leaders of each blob decided ("1, 1, 1" = one per
    /// blob), and the longest time a claim took to be announced and decided (events 1961 and 1966 of the coalescer).
    /// </summary>
    private static (string Leaders, double AnnouncedMs, double DecidedMs) Decisions(Cluster cluster, int[] logStart)
    {
        var led = new Dictionary<string, int>(StringComparer.Ordinal);
        double announced = 0, decided = 0;
        for (int i = 0; i < cluster.Nodes.Count; i++)
        {
            string log = cluster.Nodes[i].ReadSpegelLog()[logStart[i]..];
            foreach (var decision in JsonLog.Events(log, 1961).Concat(JsonLog.Events(log, 1966)))
            {
                // Older builds log no timings: the columns stay 0.
                announced = Math.Max(announced, decision.TryGetProperty("publishedMs", out var a) ? a.GetDouble() : 0);
                decided = Math.Max(decided, decision.TryGetProperty("decidedMs", out var d) ? d.GetDouble() : 0);
            }

            foreach (var leading in JsonLog.Events(log, 1961))
            {
                string digest = leading.GetProperty("digest").GetString()!;
                led[digest] = led.GetValueOrDefault(digest) + 1;
            }
        }

        return (led.Count == 0 ? "none" : string.Join(", ", led.Values.Order()), announced, decided);
    }
}
