using System.Diagnostics;
using System.Globalization;
using Spegel.Testbed;

namespace Spegel.Bench;

/// <summary>
/// Issue 2's measurements, each beside a baseline from the same run:
/// <list type="number">
/// <item>serving one large blob over loopback: spegel (from containerd's content folder) vs nginx (sendfile) serving
/// the same file, one stream and four at once, with curl as the client for both;</item>
/// <item>a ~250 MB image pulled by a fresh containerd through the mirror vs straight from the registry;</item>
/// <item>spegel's resident memory idle and at its peak while serving.</item>
/// </list>
/// </summary>
internal static class RegistryBenchmark
{
    public static async Task<int> RunAsync(BenchOptions options)
    {
        Tools.Require(Tools.Containerd, Tools.Ctr, Tools.Registry, Tools.Skopeo, Tools.Nginx);
        string root = Directory.CreateTempSubdirectory("spegel-bench-").FullName;
        var report = new BenchReport();

        try
        {
            report.Line($"# Registry benchmark ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, {Environment.OSVersion})");
            report.Line(string.Empty);
            report.Line($"Command: `dotnet run --project bench/Spegel.Bench -c Release -- registry --blob-mib {options.BlobMiB} --image-mib {options.ImageMiB} --runs {options.Runs}`");
            report.Line(string.Empty);

            Progress($"building a {options.BlobMiB} MiB single-layer image and a {options.ImageMiB} MB four-layer image");
            var layout = new OciLayout(Path.Combine(root, "layout"));
            var big = TestImages.BuildImage(layout, "bench/blob", "1", [options.BlobMiB * 1024L * 1024L], seed: 1000);
            long quarter = options.ImageMiB * 1000L * 1000L / 4;
            var image = TestImages.BuildImage(layout, "bench/image", "1", [quarter / 4, quarter / 2, quarter, (4 * quarter) - (quarter / 4) - (quarter / 2) - quarter], seed: 2000);
            await using var upstream = await RegistryNode.StartAsync(Path.Combine(root, "upstream"));
            await TestImages.PushAsync(layout, big, upstream.Address);
            await TestImages.PushAsync(layout, image, upstream.Address);

            Progress("node A pulls both images from the registry");
            await using var nodeA = await ContainerdNode.StartAsync(Path.Combine(root, "a"));
            nodeA.WriteDirectHosts(upstream.Address);
            (await nodeA.FetchAsync(big.Reference(upstream.Address), timeout: TimeSpan.FromMinutes(10))).EnsureSuccess("fetch big");
            (await nodeA.PullAsync(image.Reference(upstream.Address), timeout: TimeSpan.FromMinutes(10))).EnsureSuccess("pull image");
            string blobDigest = (await nodeA.ContentDigestsAsync())
                .MaxBy(d => new FileInfo(Path.Combine(nodeA.ContentRoot, "blobs", "sha256", d["sha256:".Length..])).Length)!;
            string blobFile = Path.Combine(nodeA.ContentRoot, "blobs", "sha256", blobDigest["sha256:".Length..]);
            long blobBytes = new FileInfo(blobFile).Length;

            await using var spegel = await SpegelProcess.StartAsync(
                Path.Combine(root, "spegel.log"), $"127.0.0.1:{Network.FreePort()}",
                ["--containerd-sock", nodeA.Socket, "--containerd-content-path", string.Empty, "--bootstrap-kind", "static"]);
            await using var nginx = await NginxServer.StartAsync(Path.Combine(root, "nginx"), blobFile);
            string spegelUrl = $"{spegel.BaseAddress}v2/bench/blob/blobs/{blobDigest}";
            await Task.Delay(1000);
            long idle = Measure.ResidentBytes(spegel.Daemon.Pid);

            // Warm the page cache and both servers once.
            await Measure.CurlThroughputAsync(nginx.Url);
            await Measure.CurlThroughputAsync(spegelUrl);

            Progress($"blob throughput, {options.Runs} alternating runs each");
            var nginxOne = new List<double>();
            var spegelOne = new List<double>();
            var nginxFour = new List<double>();
            var spegelFour = new List<double>();
            long peak = await Measure.PeakResidentBytesDuringAsync(spegel.Daemon.Pid, async () =>
            {
                for (int run = 0; run < options.Runs; run++)
                {
                    nginxOne.Add(await Measure.CurlThroughputAsync(nginx.Url));
                    spegelOne.Add(await Measure.CurlThroughputAsync(spegelUrl));
                    nginxFour.Add(await Measure.ParallelThroughputAsync(nginx.Url, 4, blobBytes));
                    spegelFour.Add(await Measure.ParallelThroughputAsync(spegelUrl, 4, blobBytes));
                }
            });

            report.Line($"## Serving one {Measure.MiB(blobBytes)} blob over loopback (curl → server, median of {options.Runs})");
            report.Line(string.Empty);
            report.Line("| streams | nginx (sendfile, baseline) | spegel | spegel / nginx |");
            report.Line("|---|---|---|---|");
            report.Line($"| 1 | {Measure.MiBps(Measure.Median(nginxOne))} | {Measure.MiBps(Measure.Median(spegelOne))} | {Ratio(Measure.Median(spegelOne), Measure.Median(nginxOne))} |");
            report.Line($"| 4 | {Measure.MiBps(Measure.Median(nginxFour))} | {Measure.MiBps(Measure.Median(spegelFour))} | {Ratio(Measure.Median(spegelFour), Measure.Median(nginxFour))} |");
            report.Line(string.Empty);

            Progress("image pulls: fresh containerd per run, from the registry vs through the mirror");
            var direct = new List<double>();
            var mirrored = new List<double>();
            for (int run = 0; run < options.Runs; run++)
            {
                direct.Add(await TimedPullAsync(Path.Combine(root, $"d{run}"), image.Reference(upstream.Address), node => node.WriteDirectHosts(upstream.Address)));
                mirrored.Add(await TimedPullAsync(Path.Combine(root, $"m{run}"), image.Reference(upstream.Address), node => WriteMirrorHosts(node, upstream.Address, spegel.RegistryAddress)));
            }

            report.Line($"## Pulling a {options.ImageMiB} MB, 4-layer image with a fresh containerd (`ctr images pull`, unpack included, median of {options.Runs})");
            report.Line(string.Empty);
            report.Line("| from the registry (baseline) | through spegel (upstream unused) | mirror / registry |");
            report.Line("|---|---|---|");
            report.Line($"| {Measure.Median(direct):0.00} s | {Measure.Median(mirrored):0.00} s | {Ratio(Measure.Median(mirrored), Measure.Median(direct))} |");
            report.Line(string.Empty);
            report.Line("Both pulls are bound by containerd's ingest and unpack on this 2-core machine (TESTBED.md §5: 80–115 MiB/s).");
            report.Line(string.Empty);

            report.Line("## spegel registry resident memory");
            report.Line(string.Empty);
            report.Line("| idle after start | peak while serving the runs above |");
            report.Line("|---|---|");
            report.Line($"| {Measure.MiB(idle)} | {Measure.MiB(peak)} |");

            await report.SaveAsync(options.Out);

            return 0;
        }
        finally
        {
            Folders.DeleteQuietly(root);
        }
    }

    private static async Task<double> TimedPullAsync(string folder, string reference, Action<ContainerdNode> configure)
    {
        await using var node = await ContainerdNode.StartAsync(folder);
        configure(node);
        var clock = Stopwatch.StartNew();
        (await node.PullAsync(reference, timeout: TimeSpan.FromMinutes(10))).EnsureSuccess($"pull {reference}");
        return clock.Elapsed.TotalSeconds;
    }

    /// <summary>The hosts.toml <c>spegel configuration</c> writes, for a mirror at <paramref name="mirror"/>.</summary>
    private static void WriteMirrorHosts(ContainerdNode node, string registry, string mirror)
    {
        string folder = Path.Combine(node.HostsDir, registry);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "hosts.toml"), $"server = 'http://{registry}'\n\n[host.'http://{mirror}']\ncapabilities = ['pull', 'resolve']\ndial_timeout = '200ms'");
    }

    private static string Ratio(double value, double baseline) => (value / baseline).ToString("0.00", CultureInfo.InvariantCulture) + "×";

    private static void Progress(string text) => Console.Error.WriteLine($"… {text}");
}
