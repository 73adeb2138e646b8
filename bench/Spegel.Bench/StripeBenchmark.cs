using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using Spegel.Testbed;

namespace Spegel.Bench;

/// <summary>
/// Issue 12's striping figure: one large layer held by three nodes' containerd, each of those nodes' links shaped (egress
/// of its namespace), fetched into the fourth node's namespace two ways in the same run: one plain GET from one holder's
/// spegel (the baseline: a single stream is what one peer's link allows), and containerd 2.1's multipart fetch
/// (<see cref="MultipartFetcher"/>) through the fourth node's spegel, which stripes the chunks over the holders. Also
/// prints what each holder sent (its <c>spegel_peer_bytes_served_total</c>) against what the client got.
/// </summary>
internal static class StripeBenchmark
{
    public static async Task<int> RunAsync(BenchOptions options)
    {
        Tools.Require(Tools.Containerd, Tools.Ctr, Tools.Registry, Tools.Skopeo, Tools.Ip, Tools.Tc);
        string root = Directory.CreateTempSubdirectory("sp-bench-stripe-").FullName;
        var report = new BenchReport();
        try
        {
            report.Line($"# Striping benchmark ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, {Environment.OSVersion})");
            report.Line(string.Empty);
            report.Line(string.Create(CultureInfo.InvariantCulture, $"Command: `dotnet run --project bench/Spegel.Bench -c Release -- stripe --blob-mib {options.BlobMiB} --workers {options.Workers} --chunk-mib {options.ChunkMiB} --peer-rate {options.PeerRate} --runs {options.Runs}`"));
            report.Line(string.Empty);
            Progress($"building a {options.BlobMiB} MiB layer and starting a 4-node cluster");
            var layout = new OciLayout(Path.Combine(root, "layout"));
            var image = TestImages.BuildImage(layout, "bench/stripe", "1", [options.BlobMiB * 1024L * 1024], seed: 1212);
            await using var cluster = await Cluster.StartAsync(root, 4);
            await TestImages.PushAsync(layout, image, cluster.UpstreamAddress, cluster.Upstream.Netns);
            var holders = cluster.Nodes.Take(3).ToList();
            var puller = cluster.Nodes[3];
            foreach (var node in holders)
            {
                Progress($"{node.Name} fetches the image from the upstream");
                (await node.FetchAsync(cluster.Reference(image), TimeSpan.FromMinutes(10))).EnsureSuccess($"{node.Name} fetching");
            }

            string layer = (await holders[0].Containerd.ContentDigestsAsync()).MaxBy(d => new FileInfo(BlobFile(holders[0], d)).Length)!;
            long size = new FileInfo(BlobFile(holders[0], layer)).Length;
            var viaPuller = new Uri($"http://{puller.RegistryAddress}/v2/{image.Repository}/blobs/{layer}?ns={cluster.UpstreamAddress}");
            await Network.WaitUntilAsync(
                async () => await Network.StatusAsync(viaPuller.ToString(), puller.Netns) == 200, TimeSpan.FromMinutes(1), "the layer findable from n4");
            await Task.Delay(TimeSpan.FromSeconds(6)); // past the lookup cache time: n4 looks the key up again and finds all three
            foreach (var node in holders)
            {
                await TestNetwork.ShapeAsync(node.Netns, options.PeerRate);
            }

            var fetcher = new MultipartFetcher(options.Workers, options.ChunkMiB * 1024L * 1024, puller.Netns);
            var direct = new Uri($"http://{holders[0].RegistryAddress}/v2/{image.Repository}/blobs/{layer}");
            report.Line(string.Create(CultureInfo.InvariantCulture, $"A {Measure.MiB(size)} layer in the containerd of n1, n2 and n3, each node's egress shaped to {options.PeerRate} (tbf); the client runs in n4's namespace and checks the digest. Baseline: one GET of the whole layer from n1's spegel (as a peer asks it). Striped: containerd 2.1's multipart fetch, {options.Workers} workers × {options.ChunkMiB} MiB chunks (`max_concurrent_downloads = {options.Workers}`, `concurrent_layer_fetch_buffer = {options.ChunkMiB * 1024L * 1024}`), through n4's spegel. The machine's {Environment.ProcessorCount} cores are shared with other work: CPU, not the links, may bound the striped rate."));
            report.Line(string.Empty);
            report.Line("| run | single stream from n1 (baseline) | striped through n4 | ratio | sent by n1 / n2 / n3 | sent by peers / delivered |");
            report.Line("|---|---|---|---|---|---|");
            var ratios = new List<double>();
            var overheads = new List<double>();
            for (int run = 1; run <= options.Runs; run++)
            {
                Progress($"run {run}: single stream from n1");
                double single = await SingleStreamAsync(puller.Netns, direct, layer, size);
                var before = await ServedAsync(holders);
                Progress($"run {run}: multipart through n4");
                var result = await fetcher.FetchAsync(viaPuller, layer);
                await Task.Delay(TimeSpan.FromSeconds(2)); // a peer counts a request's bytes when it ends
                var after = await ServedAsync(holders);
                var sent = after.Zip(before, (a, b) => a - b).ToList();
                double striped = size / result.Elapsed.TotalSeconds;
                ratios.Add(striped / single);
                overheads.Add(sent.Sum() / size);
                report.Line(string.Create(
                    CultureInfo.InvariantCulture,
                    $"| {run} | {Measure.MiBps(single)} | {Measure.MiBps(striped)} | {striped / single:0.00}× | {string.Join(" / ", sent.Select(s => Measure.MiB((long)s)))} | {sent.Sum() / size:0.000}× |"));
            }

            report.Line(string.Empty);
            report.Line(string.Create(CultureInfo.InvariantCulture, $"Striped / single stream: {ratios.Min():0.00}× to {ratios.Max():0.00}× over {options.Runs} runs; bytes sent by peers / delivered: {overheads.Min():0.000}× to {overheads.Max():0.000}×."));
            await report.SaveAsync(options.Out);
            return 0;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static string BlobFile(ClusterNode node, string digest) => Path.Combine(node.Containerd.ContentRoot, "blobs", "sha256", digest[7..]);

    private static async Task<List<double>> ServedAsync(IEnumerable<ClusterNode> nodes)
    {
        var served = new List<double>();
        foreach (var node in nodes)
        {
            served.Add(SpegelProcess.Sample(await node.Spegel!.ScrapeAsync(), "spegel_peer_bytes_served_total") ?? 0);
        }

        return served;
    }

    /// <summary>One GET of the whole blob from a peer's spegel, read and hashed by the same kind of client; bytes per second.</summary>
    private static async Task<double> SingleStreamAsync(string netns, Uri url, string digest, long size)
    {
        using var http = new HttpClient(NetnsSockets.Handler(netns)) { Timeout = Timeout.InfiniteTimeSpan };
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.TryAddWithoutValidation("X-Spegel-Mirrored", "true");
        var clock = Stopwatch.StartNew();
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"GET {url} answered {(int)response.StatusCode}");
        }

        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var body = await response.Content.ReadAsStreamAsync();
        byte[] buffer = new byte[256 * 1024];
        long total = 0;
        int n;
        while ((n = await body.ReadAsync(buffer)) > 0)
        {
            sha.AppendData(buffer, 0, n);
            total += n;
        }

        double seconds = clock.Elapsed.TotalSeconds;
        string actual = "sha256:" + Convert.ToHexStringLower(sha.GetHashAndReset());
        if (total != size || actual != digest)
        {
            throw new InvalidDataException($"single stream: {total} bytes hashing to {actual}, expected {size} bytes of {digest}");
        }

        return size / seconds;
    }

    private static void Progress(string text) => Console.Error.WriteLine($"… {text}");
}
