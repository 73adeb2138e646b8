using System.Diagnostics;
using System.Globalization;
using Spegel.Testbed;

// The quick-start demo: a cluster of three nodes on this machine, each in its own network namespace with its own
// containerd and spegel (TESTBED.md). node-1 pulls an image from the upstream registry; the upstream is cut off;
// node-2 and node-3 pull the same image from their peers. Then the upstream comes back, shaped to 100 Mbit/s, and all
// three nodes pull a new image at the same moment (the cold "thundering herd"): one downloads each blob, the others
// follow its download. The table shows where every blob came from and how fast.
Tools.Require(Tools.Containerd, Tools.Ctr, Tools.Registry, Tools.Skopeo, Tools.Ip, Tools.Nft, Tools.Tc);
string root = Directory.CreateTempSubdirectory("sp-demo-").FullName;
bool keep = args.Contains("--keep");
var clock = Stopwatch.StartNew();
void Step(string text) => Console.WriteLine($"[{clock.Elapsed.TotalSeconds,5:0.0}s] {text}");

try
{
    long[] layers = [4 * 1024 * 1024, 32 * 1024 * 1024, 96 * 1024 * 1024, 512];
    Step($"Building demo/app:1 offline: {layers.Length} layers, {Size(layers.Sum())} in all");
    var layout = new OciLayout(Path.Combine(root, "layout"));
    var image = TestImages.BuildImage(layout, "demo/app", "1", layers, seed: 42);

    // The nodes share a swarm key (a libp2p private network): members are admitted, so a tag one node holds resolves
    // from it while the upstream is down. Without a key, a tag needs two independent peers that agree (docs/security.md).
    string swarmKey = Path.Combine(root, "swarm.key");
    await File.WriteAllTextAsync(swarmKey, Spegel.Libp2p.Pnet.SwarmKey.Generate().ToFileText());
    Step("Starting a 3-node cluster: network namespaces 10.77.0.1-3 (guarded, TESTBED.md §0), containerd and spegel on each, one swarm key");
    await using var cluster = await Cluster.StartAsync(root, 3, ["--router-swarm-key-path", swarmKey]);
    await TestImages.PushAsync(layout, image, cluster.UpstreamAddress, cluster.Upstream.Netns);
    string reference = cluster.Reference(image);
    Step($"Upstream registry at {cluster.UpstreamAddress} holds {reference}; node peer IDs: {string.Join(", ", cluster.Nodes.Select(n => $"{n.Name}={n.PeerId[..12]}…"))}");

    var first = Stopwatch.StartNew();
    (await cluster.Nodes[0].PullAsync(reference)).EnsureSuccess("node-1 pull");
    Step($"node-1 pulled from upstream in {first.Elapsed.TotalSeconds:0.00} s (its spegel had nothing, so containerd fell back to upstream)");

    await cluster.Upstream.StopAsync();
    Step($"Upstream registry stopped: nothing can come from {cluster.UpstreamAddress} any more");
    await Task.Delay(500); // let node-1 finish advertising what it just pulled

    foreach (var node in cluster.Nodes.Skip(1))
    {
        var pull = Stopwatch.StartNew();
        var result = await node.PullAsync(reference);
        if (result.ExitCode != 0)
        {
            Console.Error.WriteLine(result.StandardError);
            return 1;
        }

        Step($"{node.Name} pulled {reference} from peers in {pull.Elapsed.TotalSeconds:0.00} s (containerd verified every digest)");
    }

    var herdLayout = new OciLayout(Path.Combine(root, "layout-2"));
    long[] herdLayers = [40 * 1024 * 1024, 512];
    var herd = TestImages.BuildImage(herdLayout, "demo/app", "2", herdLayers, seed: 4242);
    await cluster.Upstream.StartAsync();
    await TestImages.PushAsync(herdLayout, herd, cluster.UpstreamAddress, cluster.Upstream.Netns);
    await TestNetwork.ShapeAsync(cluster.Upstream.Netns!, "100mbit");
    Step($"Upstream back, shaped to 100 Mbit/s, with a new image demo/app:2 ({Size(herdLayers.Sum())}); all three nodes pull it at once");
    long sentBefore = TestNetwork.SentBytes("reg");
    var herdClock = Stopwatch.StartNew();
    var herdPulls = await Task.WhenAll(cluster.Nodes.Select(async n => (Node: n, Result: await n.PullAsync(cluster.Reference(herd)), Seconds: herdClock.Elapsed.TotalSeconds)));
    foreach (var (node, result, seconds) in herdPulls)
    {
        if (result.ExitCode != 0)
        {
            Console.Error.WriteLine(result.StandardError);
            return 1;
        }

        Step($"{node.Name} pulled demo/app:2 in {seconds:0.00} s");
    }

    Step($"The upstream sent {Size(TestNetwork.SentBytes("reg") - sentBefore)} for three pulls of the {Size(herdLayers.Sum())} image (pull coalescing; without it, about three times the image)");

    Console.WriteLine();
    Console.WriteLine("Where every request was answered (from each node's spegel log):");
    Console.WriteLine($"  {"node",-5} {"asked by",-11} {"request",-13} {"reference",-22} {"size",10} {"answered from",-24} {"status",6} {"time",10} {"rate",11}");
    foreach (var node in cluster.Nodes)
    {
        foreach (var entry in RequestLogEntry.Parse(node.ReadSpegelLog()).Where(e => e.Handler is "manifest" or "blob"))
        {
            string askedBy = entry.Ip == node.Address || entry.Ip.Length == 0 ? "containerd" : $"peer {NodeName(cluster, entry.Ip)}";
            string source = entry.Source switch
            {
                "local" => "its own containerd",
                "miss" => "nobody: 404",
                "in-progress" => "its download in progress",
                _ when entry.Source.StartsWith("peer ", StringComparison.Ordinal) => $"peer {NodeName(cluster, entry.Source[5..])}{entry.Source[(5 + entry.Source[5..].Split(' ')[0].Length)..]}",
                _ => entry.Source,
            };
            string rate = entry.Method == "GET" && entry.Bytes > 1024 * 1024 ? $"{entry.Bytes / (entry.LatencyMs / 1000) / 1024 / 1024:0} MiB/s" : string.Empty;
            Console.WriteLine($"  {node.Name,-5} {askedBy,-11} {entry.Method + " " + entry.Handler,-13} {Short(entry.Reference),-22} {Size(Math.Max(entry.Bytes, 0)),10} {source,-24} {entry.Status,6} {entry.LatencyMs.ToString("0.0", CultureInfo.InvariantCulture) + " ms",10} {rate,11}");
        }
    }

    var expected = (await cluster.Nodes[0].Containerd.ContentDigestsAsync()).Order().ToList();
    bool same = true;
    foreach (var node in cluster.Nodes.Skip(1))
    {
        same &= (await node.Containerd.ContentDigestsAsync()).Order().SequenceEqual(expected);
    }

    Console.WriteLine();
    Console.WriteLine(same
        ? $"Every node now holds the same {expected.Count} blobs; node-2 and node-3 got demo/app:1 from peers with the upstream down; demo/app:2 came from the upstream once."
        : "MISMATCH between the nodes' content");
    Console.WriteLine(keep ? $"Logs and state kept in {root}" : "Run with --keep to keep the logs and state.");
    return same ? 0 : 1;
}
finally
{
    if (!keep)
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

static string NodeName(Cluster cluster, string address) =>
    cluster.Nodes.FirstOrDefault(n => address.StartsWith(n.Address, StringComparison.Ordinal) && address.Length >= n.Address.Length && (address.Length == n.Address.Length || address[n.Address.Length] == ' '))?.Name ?? address.Split(' ')[0];

static string Short(string reference) => reference.StartsWith("sha256:", StringComparison.Ordinal) ? reference[..19] + "…" : reference;

static string Size(long bytes) => bytes switch
{
    >= 1024 * 1024 => $"{bytes / 1024.0 / 1024.0:0.0} MiB",
    >= 1024 => $"{bytes / 1024.0:0.0} KiB",
    _ => $"{bytes} B",
};
