using System.Diagnostics;
using System.Globalization;
using Spegel.Testbed;

namespace Spegel.Bench;

/// <summary>
/// Issue 4's measurements on the multi-node harness, the upstream shaped to 100 Mbit/s, each beside its baseline from
/// the same run: a ~250 MB image pulled through peers vs from upstream; the delay from a blob's commit on one node to
/// it being resolvable from another (blob-folder watch) vs the image event containerd 1.6 sends at the end of the pull;
/// lookup latency (vs a local hit); and the time to answer a miss (vs a local 404).
/// </summary>
internal static class MirrorBenchmark
{
    public static async Task<int> RunAsync(BenchOptions options)
    {
        var report = new BenchReport();

        string root = Directory.CreateTempSubdirectory("sp-bench-").FullName;
        try
        {
            report.Line($"# Mirroring benchmark ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores)");
            report.Line(string.Empty);
            report.Line($"Command: `dotnet run --project bench/Spegel.Bench -c Release -- mirror --image-mib {options.ImageMiB} --upstream-rate {options.UpstreamRate}`");
            report.Line(string.Empty);
            Progress("building images and starting a 3-node cluster");
            var layout = new OciLayout(Path.Combine(root, "layout"));
            long quarter = options.ImageMiB * 1000L * 1000L / 4;
            var image = TestImages.BuildImage(layout, "bench/app", "1", [quarter / 4, quarter / 2, quarter, (4 * quarter) - (quarter / 4) - (quarter / 2) - quarter], seed: 3000);
            var second = TestImages.BuildImage(layout, "bench/second", "1", [8L * 1000 * 1000, 40L * 1000 * 1000], seed: 4000);
            var probes = TestImages.Build(layout);
            await using var cluster = await Cluster.StartAsync(root, 3);
            foreach (var each in probes.Append(image).Append(second))
            {
                await TestImages.PushAsync(layout, each, cluster.UpstreamAddress, cluster.Upstream.Netns);
            }

            await TestNetwork.ShapeAsync(cluster.Upstream.Netns!, options.UpstreamRate);
            var (n1, n2, n3) = (cluster.Nodes[0], cluster.Nodes[1], cluster.Nodes[2]);

            Progress($"n1 pulls {options.ImageMiB} MB from the upstream ({options.UpstreamRate}), n2 and n3 pull it from peers");
            var clock = Stopwatch.StartNew();
            (await n1.PullAsync(cluster.Reference(image), TimeSpan.FromMinutes(10))).EnsureSuccess("n1 pull");
            double upstream = clock.Elapsed.TotalSeconds;
            await Task.Delay(500);
            clock.Restart();
            (await n2.PullAsync(cluster.Reference(image), TimeSpan.FromMinutes(10))).EnsureSuccess("n2 pull");
            double peers = clock.Elapsed.TotalSeconds;
            clock.Restart();
            (await n3.PullAsync(cluster.Reference(image), TimeSpan.FromMinutes(10))).EnsureSuccess("n3 pull");
            double peers2 = clock.Elapsed.TotalSeconds;
            report.Line($"## Pulling a {options.ImageMiB} MB, 4-layer image (upstream shaped to {options.UpstreamRate}; `ctr images pull`, unpack included)");
            report.Line(string.Empty);
            report.Line("| n1 from the upstream (baseline) | n2 from peers | n3 from peers | peers / upstream |");
            report.Line("|---|---|---|---|");
            report.Line($"| {upstream:0.00} s | {peers:0.00} s | {peers2:0.00} s | {peers / upstream:0.00}× |");
            report.Line(string.Empty);

            Progress("delay from a blob's commit on n1 to it being resolvable from n3");
            var (commit, resolvable, imageEvent) = await CommitToResolvableAsync(cluster, layout, second);
            report.Line($"## From a blob committed on n1 to a peer being able to fetch it (first layer of a 48 MB image)");
            report.Line(string.Empty);
            report.Line("| | after the commit |");
            report.Line("|---|---|");
            report.Line($"| resolvable and served from n3 (blob-folder watch → advertise) | {(resolvable - commit).TotalMilliseconds:0} ms |");
            report.Line($"| containerd 1.6's image event (end of the pull: what Spegel waits for before 2.1; baseline) | {(imageEvent - commit).TotalMilliseconds:0} ms |");
            report.Line(string.Empty);

            Progress("lookup latency and misses");
            var digests = await n1.Containerd.ContentDigestsAsync();
            var local = new List<double>();
            var remote = new List<double>();
            foreach (string digest in digests)
            {
                local.Add(await CurlMsAsync(n1.Netns, $"http://{n1.RegistryAddress}/v2/x/blobs/{digest}", head: true));
                remote.Add(await CurlMsAsync(n3.Netns, $"http://{n3.RegistryAddress}/v2/x/blobs/{digest}", head: true));
            }

            var localMiss = new List<double>();
            var miss = new List<double>();
            var claimedMiss = new List<double>();
            for (int i = 0; i < Misses; i++)
            {
                string nobody = "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
                localMiss.Add(await CurlMsAsync(n3.Netns, $"http://{n3.RegistryAddress}/v2/x/blobs/{nobody}", head: true, asPeer: true));
                miss.Add(await CurlMsAsync(n3.Netns, $"http://{n3.RegistryAddress}/v2/x/blobs/{nobody}", head: true));
                // A GET from the node itself (its containerd's address) is a miss the node may lead: it claims the blob
                // (pull coalescing), finds no rival, and answers 404 so that containerd goes upstream. Fresh digest: a
                // claim made above would be followed, not decided.
                string alone = "sha256:" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
                claimedMiss.Add(await CurlMsAsync(n3.Netns, $"http://{n3.RegistryAddress}/v2/x/blobs/{alone}", head: false));
            }

            report.Line($"## A blob through n3's spegel, measured by curl in n3's namespace ({digests.Count} blobs, {Misses} misses of each kind)");
            report.Line(string.Empty);
            report.Line("| | p50 | p99 |");
            report.Line("|---|---|---|");
            report.Line($"| local hit on the node that has it (baseline) | {Percentile(local, 50):0.0} ms | {Percentile(local, 99):0.0} ms |");
            report.Line($"| lookup + forward to the peer that has it | {Percentile(remote, 50):0.0} ms | {Percentile(remote, 99):0.0} ms |");
            report.Line($"| local 404 without a lookup (baseline) | {Percentile(localMiss, 50):0.0} ms | {Percentile(localMiss, 99):0.0} ms |");
            report.Line($"| miss (HEAD): lookup finds nobody → 404 | {Percentile(miss, 50):0.0} ms | {Percentile(miss, 99):0.0} ms |");
            report.Line($"| miss (GET from the node itself): lookup finds nobody, claim decided (leads) → 404 | {Percentile(claimedMiss, 50):0.0} ms | {Percentile(claimedMiss, 99):0.0} ms |");
            report.Line(string.Empty);
            report.Line("The first rows are HEADs (containerd's first request for a blob), the last a GET, the request a pull coalesces: with nobody holding or claiming the blob, n3 claims it and, with no rival claim, leads (answers 404; its containerd downloads from the upstream). That miss is what a lone pull of a new image pays per blob.");

            await report.SaveAsync(options.Out);

            return 0;
        }
        finally
        {
            Folders.DeleteQuietly(root);
        }
    }

    /// <summary>
    /// n1 pulls an image from the shaped upstream; the first blob file to land in its store is timed, then n3 asks its
    /// own spegel for it (a GET of one byte, as a peer would need) until a peer serves it.
    /// </summary>
    private static async Task<(DateTimeOffset Commit, DateTimeOffset Resolvable, DateTimeOffset ImageEvent)> CommitToResolvableAsync(Cluster cluster, OciLayout layout, TestImage image)
    {
        var (n1, n3) = (cluster.Nodes[0], cluster.Nodes[2]);
        string blobs = Path.Combine(n1.Containerd.ContentRoot, "blobs", "sha256");
        var committed = new TaskCompletionSource<(string Name, DateTimeOffset At)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var known = Directory.EnumerateFiles(blobs).Select(Path.GetFileName).ToHashSet();
        using var watcher = new FileSystemWatcher(blobs) { NotifyFilter = NotifyFilters.FileName };
        void OnFile(string? name)
        {
            if (name is not null && !known.Contains(name) && new FileInfo(Path.Combine(blobs, name)).Length > 1_000_000)
            {
                committed.TrySetResult((name, DateTimeOffset.UtcNow));
            }
        }

        watcher.Created += (_, e) => OnFile(e.Name);
        watcher.Renamed += (_, e) => OnFile(e.Name);
        watcher.EnableRaisingEvents = true;
        var pull = n1.PullAsync(cluster.Reference(image), TimeSpan.FromMinutes(5));
        var (blob, commit) = await committed.Task.WaitAsync(TimeSpan.FromMinutes(2));
        DateTimeOffset resolvable;
        while (true)
        {
            var result = await TestNetwork.ExecAsync(n3.Netns, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-r", "0-0", $"http://{n3.RegistryAddress}/v2/bench/second/blobs/sha256:{blob}?ns={cluster.UpstreamAddress}"]);
            if (result.StandardOutput.Trim() == "206")
            {
                resolvable = DateTimeOffset.UtcNow;
                break;
            }
        }

        (await pull).EnsureSuccess("n1 pulling the second image");
        var imageEvent = DateTimeOffset.UtcNow;
        return (commit, resolvable, imageEvent);
    }

    /// <summary>Misses of each kind measured: enough for a p99 that is not just the maximum of a few.</summary>
    private const int Misses = 100;

    private static async Task<double> CurlMsAsync(string netns, string url, bool head, bool asPeer = false)
    {
        IEnumerable<string> args = ["curl", "-s", "-o", "/dev/null", "-w", "%{time_total}", .. head ? new[] { "-I" } : [], .. asPeer ? new[] { "-H", "X-Spegel-Mirrored: true" } : [], url];
        var result = await TestNetwork.ExecAsync(netns, args);
        return double.Parse(result.StandardOutput.Trim(), CultureInfo.InvariantCulture) * 1000;
    }

    private static double Percentile(List<double> values, int percentile)
    {
        var sorted = values.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(percentile / 100.0 * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    private static void Progress(string text) => Console.Error.WriteLine($"… {text}");
}
