using System.Globalization;
using Spegel.Testbed;

namespace Spegel.Bench;

/// <summary>
/// One node serving a large blob to another across the harness's network (network namespaces on a bridge, as two
/// machines would be): nginx with sendfile in the serving node's namespace (the baseline), spegel asked directly, and
/// spegel reached through the pulling node's own spegel (lookup + forward + digest check), which is what containerd
/// does. Prints the rates, ratios to nginx and to spegel asked directly, and the CPU seconds each spegel spent per GiB,
/// with their range over the runs (the targets take turns within a run, so each run's ratios compare like with like).
/// </summary>
internal static class ServeBenchmark
{
    public static async Task<int> RunAsync(BenchOptions options)
    {
        Tools.Require(Tools.Containerd, Tools.Ctr, Tools.Registry, Tools.Skopeo, Tools.Nginx, Tools.Ip);
        string root = Directory.CreateTempSubdirectory("sp-bench-serve-").FullName;
        var report = new BenchReport();
        try
        {
            report.Line($"# Serving benchmark ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, {Environment.OSVersion})");
            report.Line(string.Empty);
            report.Line($"Command: `dotnet run --project bench/Spegel.Bench -c Release -- serve --blob-mib {options.BlobMiB} --runs {options.Runs}`");
            report.Line(string.Empty);
            var layout = new OciLayout(Path.Combine(root, "layout"));
            var image = TestImages.BuildImage(layout, "bench/serve", "1", [options.BlobMiB * 1024L * 1024], seed: 4242);
            await using var cluster = await Cluster.StartAsync(root, 2);
            await TestImages.PushAsync(layout, image, cluster.UpstreamAddress, cluster.Upstream.Netns);
            var (n1, n2) = (cluster.Nodes[0], cluster.Nodes[1]);
            (await n1.PullAsync(cluster.Reference(image))).EnsureSuccess("n1 pulling");
            string layer = (await n1.Containerd.ContentDigestsAsync()).MaxBy(d => new FileInfo(BlobFile(n1, d)).Length)!;
            string file = BlobFile(n1, layer);
            long bytes = new FileInfo(file).Length;
            await using var nginx = await NginxServer.StartAsync(Path.Combine(root, "nginx"), file, n1.Address, n1.Netns);

            var targets = new (string Name, string Url, string[] Headers)[]
            {
                ("nginx (sendfile), baseline", nginx.Url, []),
                ("spegel, asked directly", $"http://{n1.RegistryAddress}/v2/bench/serve/blobs/{layer}", ["X-Spegel-Mirrored: true"]),
                ("spegel through the puller's spegel", $"http://{n2.RegistryAddress}/v2/bench/serve/blobs/{layer}?ns={cluster.UpstreamAddress}", []),
            };
            report.Line($"One {Measure.MiB(bytes)} layer in n1's containerd; curl in n2's namespace (another node on the harness's bridge). After two warm-up downloads from each, every run downloads from each target in turn, so a run's three rates see the same load; {options.Runs} runs. Rate: median, and the range over the runs. Ratio to spegel direct: each run's rate over that run's direct rate. CPU: user + system seconds of each node's spegel per GiB served, from /proc (10 ms ticks), median and range over the runs.");
            report.Line(string.Empty);
            report.Line("| served by | median rate (range) | ratio to nginx | ratio to spegel direct: median (range) | spegel n1 CPU s/GiB: median (range) | spegel n2 CPU s/GiB: median (range) |");
            report.Line("|---|---|---|---|---|---|");
            for (int warm = 0; warm < 2; warm++)
            {
                foreach (var (_, url, headers) in targets)
                {
                    // Page cache, connections, and the JIT: one download leaves the runtime still compiling hot
                    // methods at tier 1 (a tenth of a relay's CPU in the first runs, in perf).
                    await CurlRateAsync(n2.Netns, url, headers);
                }
            }

            var rates = targets.Select(_ => new List<double>()).ToArray();
            var cpu1 = targets.Select(_ => new List<double>()).ToArray();
            var cpu2 = targets.Select(_ => new List<double>()).ToArray();
            double gib = bytes / (1024.0 * 1024 * 1024);
            for (int i = 0; i < options.Runs; i++)
            {
                for (int t = 0; t < targets.Length; t++)
                {
                    var (_, url, headers) = targets[t];
                    double before1 = CpuSeconds(n1.Spegel!.Daemon.Pid), before2 = CpuSeconds(n2.Spegel!.Daemon.Pid);
                    rates[t].Add(await CurlRateAsync(n2.Netns, url, headers));
                    cpu1[t].Add((CpuSeconds(n1.Spegel.Daemon.Pid) - before1) / gib);
                    cpu2[t].Add((CpuSeconds(n2.Spegel.Daemon.Pid) - before2) / gib);
                }
            }

            double baseline = Measure.Median(rates[0]);
            for (int t = 0; t < targets.Length; t++)
            {
                double median = Measure.Median(rates[t]);
                var toDirect = rates[t].Zip(rates[1], (rate, direct) => rate / direct).ToList();
                report.Line(string.Create(
                    CultureInfo.InvariantCulture,
                    $"| {targets[t].Name} | {Measure.MiBps(median)} ({Measure.MiBps(rates[t].Min())}–{Measure.MiBps(rates[t].Max())}) | {median / baseline:0.00}× | {Range(toDirect, "0.00")} | {Range(cpu1[t], "0.00")} | {Range(cpu2[t], "0.00")} |"));
            }

            await report.SaveAsync(options.Out);
            return 0;
        }
        finally
        {
            Folders.DeleteQuietly(root);
        }
    }

    private static string Range(List<double> values, string format) => string.Create(
        CultureInfo.InvariantCulture, $"{Measure.Median(values).ToString(format, CultureInfo.InvariantCulture)} ({values.Min().ToString(format, CultureInfo.InvariantCulture)}–{values.Max().ToString(format, CultureInfo.InvariantCulture)})");

    private static string BlobFile(ClusterNode node, string digest) => Path.Combine(node.Containerd.ContentRoot, "blobs", "sha256", digest[7..]);

    /// <summary>User + system CPU seconds of a process, from <c>/proc/&lt;pid&gt;/stat</c> (clock ticks of 10 ms).</summary>
    private static double CpuSeconds(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }

    private static async Task<double> CurlRateAsync(string netns, string url, string[] headers)
    {
        var result = (await TestNetwork.ExecAsync(netns, ["curl", "-sS", "-f", "-o", "/dev/null", "-w", "%{speed_download}", .. headers.SelectMany(h => new[] { "-H", h }), url])).EnsureSuccess($"curl {url}");
        return double.Parse(result.StandardOutput.Trim(), CultureInfo.InvariantCulture);
    }
}
