using System.Globalization;
using Spegel.Testbed;

namespace Spegel.Bench;

/// <summary>
/// One node serving a large blob to another across the harness's network (network namespaces on a bridge, as two
/// machines would be): nginx with sendfile in the serving node's namespace (the baseline), spegel asked directly, and
/// spegel reached through the pulling node's own spegel (lookup + forward + digest check), which is what containerd
/// does. Prints the rates, ratios to nginx, and the CPU seconds each spegel spent per GiB.
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
            report.Line($"One {Measure.MiB(bytes)} layer in n1's containerd; curl in n2's namespace (another node on the harness's bridge), median of {options.Runs} after a warm-up. CPU: user + system seconds of each node's spegel per GiB served.");
            report.Line(string.Empty);
            report.Line("| served by | median rate | ratio to nginx | spegel CPU s/GiB (n1, n2) |");
            report.Line("|---|---|---|---|");
            double baseline = 0;
            foreach (var (name, url, headers) in targets)
            {
                await CurlRateAsync(n2.Netns, url, headers); // warm-up: page cache, JIT, connections
                var rates = new List<double>();
                double cpu1 = CpuSeconds(n1.Spegel!.Daemon.Pid), cpu2 = CpuSeconds(n2.Spegel!.Daemon.Pid);
                for (int i = 0; i < options.Runs; i++)
                {
                    rates.Add(await CurlRateAsync(n2.Netns, url, headers));
                }

                double gib = bytes * (double)options.Runs / (1024 * 1024 * 1024);
                double perGib1 = (CpuSeconds(n1.Spegel.Daemon.Pid) - cpu1) / gib, perGib2 = (CpuSeconds(n2.Spegel.Daemon.Pid) - cpu2) / gib;
                double median = Measure.Median(rates);
                baseline = baseline == 0 ? median : baseline;
                report.Line(string.Create(CultureInfo.InvariantCulture, $"| {name} | {Measure.MiBps(median)} | {median / baseline:0.00}× | {perGib1:0.00}, {perGib2:0.00} |"));
            }

            await report.SaveAsync(options.Out);
            return 0;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

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
