using System.Diagnostics;
using System.Globalization;
using System.Text;
using Spegel.Testbed;

namespace Spegel.Bench;

/// <summary>
/// Spegel's benchmark scenarios on the local multi-node harness (issue 6): "create" (every node pulls v1 at once) and
/// "update" (a rolling update, 20 % of the nodes at a time, pulls v2), for images of 10 MB and 100 MB (1 GB with
/// <c>--with-1gb</c>) in 1 and 4 layers; once with no mirror (baseline: containerd straight to the upstream) and once
/// through spegel. Records every node's pull time, the bytes the upstream and the peers served, blob throughput from one
/// node vs nginx serving the same file, lookup latency and each node's peak memory; writes a Markdown report and box
/// plots to docs/benchmarks/.
/// </summary>
internal static class SuiteBenchmark
{
    public static async Task<int> RunAsync(BenchOptions options)
    {
        var clock = Stopwatch.StartNew();
        void Progress(string text) => Console.Error.WriteLine($"[{clock.Elapsed:mm\\:ss}] {text}");
        // --out names the report (charts go next to it) or a folder for suite.md and the charts.
        string outPath = Path.GetFullPath(options.Out ?? Path.Combine("docs", "benchmarks"));
        bool named = outPath.EndsWith(".md", StringComparison.Ordinal);
        string outDir = named ? Path.GetDirectoryName(outPath)! : outPath;
        string reportPath = named ? outPath : Path.Combine(outDir, "suite.md");
        Directory.CreateDirectory(outDir);
        string root = Directory.CreateTempSubdirectory("sp-suite-").FullName;
        var specs = new List<(string Name, long Bytes, int Layers)> { ("10MB×1", 10_000_000, 1), ("10MB×4", 10_000_000, 4), ("100MB×1", 100_000_000, 1), ("100MB×4", 100_000_000, 4) };
        if (options.With1Gb)
        {
            specs.AddRange([("1GB×1", 1_000_000_000, 1), ("1GB×4", 1_000_000_000, 4)]);
        }

        try
        {
            Progress($"building {specs.Count * 2} images (v1 and v2 of {string.Join(", ", specs.Select(s => s.Name))})");
            var layout = new OciLayout(Path.Combine(root, "layout"));
            var images = new Dictionary<(string Spec, int Version), TestImage>();
            int seed = 10_000;
            foreach (var spec in specs)
            {
                for (int version = 1; version <= 2; version++)
                {
                    long[] sizes = Enumerable.Repeat(spec.Bytes / spec.Layers, spec.Layers).ToArray();
                    images[(spec.Name, version)] = TestImages.BuildImage(layout, $"bench/{spec.Name.Replace('×', 'x').ToLowerInvariant()}", $"v{version}", sizes, seed += 10);
                }
            }

            Progress($"starting {options.Nodes} nodes and the upstream registry");
            long limit = options.MemoryLimitMiB * 1024L * 1024L;
            await using var cluster = await Cluster.StartAsync(root, options.Nodes, new ClusterOptions { MemoryLimitBytes = limit, SpegelBinary = options.SpegelBinary });
            await Task.Delay(3000); // the start settles (first advertisement, bootstrap) before the idle reading
            var memory = new SuiteMemory(limit);
            memory.Sample(cluster);
            memory.Idle(cluster);
            foreach (var image in images.Values)
            {
                await TestImages.PushAsync(layout, image, cluster.UpstreamAddress, cluster.Upstream.Netns);
            }

            await TestNetwork.ShapeAsync(cluster.Upstream.Netns!, options.UpstreamRate);
            var samples = new List<Sample>();
            var traffic = new List<Traffic>();
            Extras? extras = null;
            Dictionary<string, double> ingest = [];
            string? failure = null;
            using var sampling = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!sampling.IsCancellationRequested)
                {
                    lock (memory)
                    {
                        memory.Sample(cluster);
                    }

                    await Task.Delay(200);
                }
            });
            try
            {
                foreach (string mode in new[] { "baseline", "spegel" })
                {
                    if (mode == "spegel")
                    {
                        lock (memory)
                        {
                            memory.EndPhase(cluster, "baseline");
                        }
                    }

                    foreach (var node in cluster.Nodes)
                    {
                        if (mode == "baseline")
                        {
                            Directory.Delete(node.Containerd.HostsDir, recursive: true);
                            node.Containerd.WriteDirectHosts(cluster.UpstreamAddress);
                        }
                        else
                        {
                            await cluster.ConfigureMirrorAsync(node);
                        }
                    }

                    foreach (var spec in specs)
                    {
                        await Task.WhenAll(cluster.Nodes.Select(n => n.Containerd.ClearAsync()));
                        await Task.Delay(500); // withdrawals settle
                        long upstreamBefore = TestNetwork.SentBytes("reg");
                        double peersBefore = await PeerBytesAsync(cluster);

                        Progress($"{mode}: create {spec.Name}: {cluster.Nodes.Count} nodes pull v1 at once");
                        var create = await Task.WhenAll(cluster.Nodes.Select(n => TimedPullAsync(n, cluster.Reference(images[(spec.Name, 1)]))));
                        samples.AddRange(create.Select(r => new Sample(mode, "create", spec.Name, r.Node, r.Seconds)));
                        long createUpstream = TestNetwork.SentBytes("reg") - upstreamBefore;

                        int batch = Math.Max(1, (int)Math.Round(cluster.Nodes.Count * 0.2));
                        Progress($"{mode}: update {spec.Name}: v2 rolled out {batch} node(s) at a time");
                        foreach (var group in cluster.Nodes.Chunk(batch))
                        {
                            var update = await Task.WhenAll(group.Select(n => TimedPullAsync(n, cluster.Reference(images[(spec.Name, 2)]))));
                            samples.AddRange(update.Select(r => new Sample(mode, "update", spec.Name, r.Node, r.Seconds)));
                        }

                        traffic.Add(new Traffic(mode, spec.Name, TestNetwork.SentBytes("reg") - upstreamBefore, await PeerBytesAsync(cluster) - peersBefore, createUpstream));
                    }
                }

                Progress("blob throughput from one node vs nginx, lookup latency");
                extras = await ExtrasAsync(cluster, images[(specs.First(s => s.Bytes == 100_000_000 && s.Layers == 1).Name, 1)], root);
                ingest = await SuiteIngest.MeasureAsync(cluster, layout, specs.Select(s => (s.Name, images[(s.Name, 2)])).ToList(), root, runs: 3, Progress);
            }
            catch (Exception e) when (memory.AnyKillNow(cluster))
            {
                // A node's spegel died (OOM-killed): the report says so with the memory table, and the run fails.
                failure = e.Message;
            }

            await sampling.CancelAsync();
            await sampler;
            memory.EndPhase(cluster, extras is null ? "spegel (aborted)" : "spegel");
            string report = failure is null
                ? Report(options, specs.Select(s => s.Name).ToList(), samples, traffic, extras!, ingest, memory, clock.Elapsed)
                : Header(options, clock.Elapsed) + memory.Render() + $"The run stopped: {failure}\n";
            await File.WriteAllTextAsync(reportPath, report);
            foreach (string scenario in failure is null ? new[] { "create", "update" } : [])
            {
                Charts.BoxPlot(Path.Combine(outDir, $"suite-{scenario}.png"), $"\"{scenario}\": pull time per node ({cluster.Nodes.Count} nodes, upstream {options.UpstreamRate})",
                    specs.Select(s => s.Name).ToList(), samples.Where(s => s.Scenario == scenario).ToList());
            }

            Console.WriteLine(report);
            Progress($"report and charts written to {outDir}");
            if (memory.AnyKilled)
            {
                Console.Error.WriteLine("FAILED: a node's spegel was OOM-killed or died (see the memory table)");
                return 3;
            }

            return 0;
        }
        finally
        {
            Folders.DeleteQuietly(root);
        }
    }

    private static async Task<(string Node, double Seconds)> TimedPullAsync(ClusterNode node, string reference)
    {
        var clock = Stopwatch.StartNew();
        (await node.PullAsync(reference, TimeSpan.FromMinutes(20))).EnsureSuccess($"{node.Name} pulling {reference}");
        return (node.Name, clock.Elapsed.TotalSeconds);
    }

    private static async Task<double> PeerBytesAsync(Cluster cluster)
    {
        double total = 0;
        foreach (var node in cluster.Nodes)
        {
            if (node.Spegel is { Daemon.HasExited: false } spegel)
            {
                total += SpegelProcess.Sample(await spegel.ScrapeAsync(), "spegel_peer_bytes_served_total") ?? 0;
            }
        }

        return total;
    }

    private static async Task<Extras> ExtrasAsync(Cluster cluster, TestImage image, string root)
    {
        var (n1, n2) = (cluster.Nodes[0], cluster.Nodes[1]);
        await Task.WhenAll(cluster.Nodes.Select(n => n.Containerd.ClearAsync()));
        await TestNetwork.ShapeAsync(cluster.Upstream.Netns!, null);
        (await n1.PullAsync(cluster.Reference(image))).EnsureSuccess("n1 pulling the throughput image");
        string layer = (await n1.Containerd.ContentDigestsAsync()).MaxBy(d => new FileInfo(Path.Combine(n1.Containerd.ContentRoot, "blobs", "sha256", d[7..])).Length)!;
        string file = Path.Combine(n1.Containerd.ContentRoot, "blobs", "sha256", layer[7..]);
        await using var nginx = await NginxServer.StartAsync(Path.Combine(root, "nginx"), file, n1.Address, n1.Netns);
        string spegelUrl = $"http://{n1.RegistryAddress}/v2/x/blobs/{layer}";
        var nginxRuns = new List<double>();
        var spegelRuns = new List<double>();
        for (int i = 0; i < 3; i++)
        {
            nginxRuns.Add(await CurlRateAsync(n2.Netns, nginx.Url));
            spegelRuns.Add(await CurlRateAsync(n2.Netns, spegelUrl, "X-Spegel-Mirrored: true"));
        }

        var local = new List<double>();
        var remote = new List<double>();
        foreach (string digest in await n1.Containerd.ContentDigestsAsync())
        {
            for (int i = 0; i < 5; i++)
            {
                local.Add(await CurlTimeAsync(n1.Netns, $"http://{n1.RegistryAddress}/v2/x/blobs/{digest}"));
                remote.Add(await CurlTimeAsync(n2.Netns, $"http://{n2.RegistryAddress}/v2/x/blobs/{digest}?i={i}"));
            }
        }

        return new Extras(Measure.Median(nginxRuns), Measure.Median(spegelRuns), new FileInfo(file).Length, local, remote);
    }

    private static async Task<double> CurlRateAsync(string netns, string url, string? header = null)
    {
        IEnumerable<string> args = ["curl", "-sS", "-f", "-o", "/dev/null", "-w", "%{speed_download}", .. header is null ? Array.Empty<string>() : ["-H", header], url];
        var result = (await TestNetwork.ExecAsync(netns, args)).EnsureSuccess($"curl {url}");
        return double.Parse(result.StandardOutput.Trim(), CultureInfo.InvariantCulture);
    }

    private static async Task<double> CurlTimeAsync(string netns, string url)
    {
        var result = (await TestNetwork.ExecAsync(netns, ["curl", "-sS", "-I", "-o", "/dev/null", "-w", "%{time_total}", url])).EnsureSuccess($"curl -I {url}");
        return double.Parse(result.StandardOutput.Trim(), CultureInfo.InvariantCulture) * 1000;
    }

    private static string Header(BenchOptions options, TimeSpan elapsed)
    {
        var sb = new StringBuilder();
        sb.Append("# Benchmark suite: Spegel's scenarios on a local cluster\n\n");
        sb.Append($"Run {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC in {elapsed.TotalMinutes:0.0} min on {Environment.ProcessorCount} cores, {Environment.OSVersion}; ");
        sb.Append($"{options.Nodes} nodes (network namespaces, containerd 1.6 each), upstream registry shaped to {options.UpstreamRate}");
        sb.Append(options.MemoryLimitMiB > 0 ? $", each node's spegel in a {options.MemoryLimitMiB} MiB memory group" : ", no memory limit");
        sb.Append(options.SpegelBinary is null ? ", run as `dotnet spegel.dll` (framework-dependent).\n\n" : ", run as the image runs it: the single-file, trimmed, self-contained build (`--spegel-binary`).\n\n");
        string memoryFlag = (options.MemoryLimitMiB == 128 ? string.Empty : $" --memory-limit-mib {options.MemoryLimitMiB}")
            + (options.SpegelBinary is null ? string.Empty : " --spegel-binary <published spegel>");
        // Runtime variables given to the run reach every spegel (they inherit the environment): part of the command.
        string variables = string.Concat(Environment.GetEnvironmentVariables().Keys.Cast<string>().Where(k => k.StartsWith("DOTNET_GC", StringComparison.Ordinal) || k.StartsWith("DOTNET_Tiered", StringComparison.Ordinal)).Order(StringComparer.Ordinal)
            .Select(k => $"{k}={Environment.GetEnvironmentVariable(k)} "));
        sb.Append($"Command: `{variables}dotnet run --project bench/Spegel.Bench -c Release -- suite --nodes {options.Nodes} --upstream-rate {options.UpstreamRate}{(options.With1Gb ? " --with-1gb" : string.Empty)}{memoryFlag}`\n\n");
        return sb.ToString();
    }

    private static string Report(BenchOptions options, List<string> specs, List<Sample> samples, List<Traffic> traffic, Extras extras, Dictionary<string, double> ingest, SuiteMemory memory, TimeSpan elapsed)
    {
        var sb = new StringBuilder(Header(options, elapsed));
        sb.Append(memory.AnyKilled ? memory.Render() : string.Empty);
        sb.Append("\"create\": every node pulls v1 at once. \"update\": v2 rolled out to 20 % of the nodes at a time (at least one). Baseline: containerd pulls straight from the upstream (no mirror). Times are `ctr images pull` per node, unpack included.\n\n");
        foreach (string scenario in new[] { "create", "update" })
        {
            sb.Append($"## \"{scenario}\"\n\n![{scenario}](suite-{scenario}.png)\n\n");
            sb.Append("| image | baseline median | baseline max | spegel median | spegel max | median ratio |\n|---|---|---|---|---|---|\n");
            foreach (string spec in specs)
            {
                var b = samples.Where(s => s.Scenario == scenario && s.Image == spec && s.Mode == "baseline").Select(s => s.Seconds).ToList();
                var p = samples.Where(s => s.Scenario == scenario && s.Image == spec && s.Mode == "spegel").Select(s => s.Seconds).ToList();
                sb.Append($"| {spec} | {Measure.Median(b):0.00} s | {b.Max():0.00} s | {Measure.Median(p):0.00} s | {p.Max():0.00} s | {Measure.Median(p) / Measure.Median(b):0.00}× |\n");
            }

            sb.Append('\n');
        }

        sb.Append("## The rolling update against the node's own ingest limit\n\n");
        sb.Append("Ingest limit: the same v2 image pulled by n1's containerd from a registry in n1's own namespace (loopback: no network hop, no shaping), median of 3, in this run. The update cannot be faster; the ratio is what the network and spegel add to containerd's own download, write and unpack.\n\n");
        sb.Append("| image | ingest limit (baseline) | \"update\" spegel median | ratio |\n|---|---|---|---|\n");
        foreach (string spec in specs)
        {
            var p = samples.Where(s => s.Scenario == "update" && s.Image == spec && s.Mode == "spegel").Select(s => s.Seconds).ToList();
            if (ingest.TryGetValue(spec, out double limit))
            {
                sb.Append($"| {spec} | {limit:0.00} s | {Measure.Median(p):0.00} s | {Measure.Median(p) / limit:0.00}× |\n");
            }
        }

        sb.Append("\n## Bytes served (create + update of each image)\n\n");
        sb.Append("\"create\" from the upstream: the bytes the upstream sent while every node pulled v1 at once; × one image: over the baseline's create divided by the nodes (each node downloads the image once there). Coalescing makes it 1×.\n\n");
        sb.Append("| image | mode | from the upstream | from peers | \"create\" from the upstream | × one image |\n|---|---|---|---|---|---|\n");
        foreach (var t in traffic)
        {
            var baseline = traffic.FirstOrDefault(b => b.Mode == "baseline" && b.Image == t.Image);
            string times = baseline is { CreateUpstream: > 0 } ? $"{t.CreateUpstream / ((double)baseline.CreateUpstream / options.Nodes):0.00}×" : "–";
            sb.Append($"| {t.Image} | {t.Mode} | {Measure.MiB(t.Upstream)} | {Measure.MiB((long)t.Peers)} | {Measure.MiB(t.CreateUpstream)} | {times} |\n");
        }

        sb.Append("\n## One node serving a blob to another (curl, median of 3)\n\n| nginx in the serving node's namespace (baseline) | spegel | ratio |\n|---|---|---|\n");
        sb.Append($"| {Measure.MiBps(extras.NginxRate)} | {Measure.MiBps(extras.SpegelRate)} | {extras.SpegelRate / extras.NginxRate:0.00}× |\n\n");
        sb.Append($"Blob of {Measure.MiB(extras.BlobBytes)}.\n\n");
        sb.Append("## HEAD of a blob (curl)\n\n| | p50 | p99 |\n|---|---|---|\n");
        sb.Append($"| local hit (baseline) | {Percentile(extras.Local, 50):0.0} ms | {Percentile(extras.Local, 99):0.0} ms |\n");
        sb.Append($"| on another node: lookup + forward | {Percentile(extras.Remote, 50):0.0} ms | {Percentile(extras.Remote, 99):0.0} ms |\n\n");
        sb.Append(memory.AnyKilled ? string.Empty : memory.Render());
        return sb.ToString();
    }

    private static double Percentile(List<double> values, int percentile)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(percentile / 100.0 * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    internal sealed record Sample(string Mode, string Scenario, string Image, string Node, double Seconds);

    private sealed record Traffic(string Mode, string Image, long Upstream, double Peers, long CreateUpstream);

    private sealed record Extras(double NginxRate, double SpegelRate, long BlobBytes, List<double> Local, List<double> Remote);
}
