using System.Diagnostics;
using System.Globalization;
using Spegel.Testbed;

// The quick-start demo, on one machine: node-a pulls an image from the upstream registry; spegel serves node-a's
// containerd content; the upstream is stopped; node-b pulls the same image through the mirror; the table shows
// where every blob came from and how fast.
Tools.Require(Tools.Containerd, Tools.Ctr, Tools.Registry, Tools.Skopeo);
string root = Directory.CreateTempSubdirectory("spegel-demo-").FullName;
bool keep = args.Contains("--keep");
var clock = Stopwatch.StartNew();
void Step(string text) => Console.WriteLine($"[{clock.Elapsed.TotalSeconds,5:0.0}s] {text}");

try
{
    long[] layers = [4 * 1024 * 1024, 32 * 1024 * 1024, 96 * 1024 * 1024, 512];
    Step($"Building demo/app:1 offline: {layers.Length} layers, {Size(layers.Sum())} in all");
    var layout = new OciLayout(Path.Combine(root, "layout"));
    var image = TestImages.BuildImage(layout, "demo/app", "1", layers, seed: 42);

    await using var upstream = await RegistryNode.StartAsync(Path.Combine(root, "upstream"));
    await TestImages.PushAsync(layout, image, upstream.Address);
    string reference = image.Reference(upstream.Address);
    Step($"Upstream registry (Distribution) at {upstream.Address} holds {reference}");

    await using var nodeA = await ContainerdNode.StartAsync(Path.Combine(root, "a"));
    nodeA.WriteDirectHosts(upstream.Address);
    var pullA = Stopwatch.StartNew();
    (await nodeA.PullAsync(reference)).EnsureSuccess("node-a pull");
    Step($"node-a: containerd pulled it from upstream in {pullA.Elapsed.TotalSeconds:0.00} s");

    await using var spegel = await SpegelProcess.StartAsync(
        Path.Combine(root, "spegel-a.log"), $"127.0.0.1:{Network.FreePort()}",
        ["--containerd-sock", nodeA.Socket, "--containerd-content-path", string.Empty, "--bootstrap-kind", "static", "--log-level", "DEBUG"]);
    Step($"node-a: spegel registry serves node-a's containerd content at {spegel.RegistryAddress}");

    await upstream.StopAsync();
    Step($"Upstream registry stopped: {upstream.Address} now refuses connections");

    await using var nodeB = await ContainerdNode.StartAsync(Path.Combine(root, "b"));
    (await SpegelProcess.RunAsync([
        "configuration", "--containerd-registry-config-path", nodeB.HostsDir,
        "--mirror-targets", $"http://{spegel.RegistryAddress}", "--mirrored-registries", $"http://{upstream.Address}",
        "--basic-auth-dir", Path.Combine(root, "no-auth"),
    ])).EnsureSuccess("spegel configuration");
    Step($"node-b: spegel configuration wrote {Path.Combine(nodeB.HostsDir, upstream.Address, "hosts.toml")}:");
    foreach (string line in File.ReadAllLines(Path.Combine(nodeB.HostsDir, upstream.Address, "hosts.toml")))
    {
        Console.WriteLine($"          | {line}");
    }

    var pullB = Stopwatch.StartNew();
    var result = await nodeB.PullAsync(reference, timeout: TimeSpan.FromMinutes(2));
    if (result.ExitCode != 0)
    {
        Console.Error.WriteLine(result.StandardError);
        return 1;
    }

    Step($"node-b: containerd pulled {reference} through the mirror in {pullB.Elapsed.TotalSeconds:0.00} s (containerd verified every digest)");
    Console.WriteLine();
    Console.WriteLine("Where every request of node-b's pull was answered:");
    Console.WriteLine($"  {"request",-13} {"reference",-20} {"size",10} {"answered by",-22} {"status",6} {"time",9} {"rate",12}");
    foreach (var entry in RequestLogEntry.Parse(spegel.Daemon.ReadLog()).Where(e => e.Handler is "manifest" or "blob"))
    {
        string source = entry.Source == "local" ? "node-a (local store)" : entry.Source;
        string rate = entry.Method == "GET" && entry.Bytes > 1024 * 1024 ? $"{entry.Bytes / (entry.LatencyMs / 1000) / 1024 / 1024:0} MiB/s" : string.Empty;
        string what = $"{entry.Method} {entry.Handler}";
        Console.WriteLine($"  {what,-13} {Short(entry.Reference),-20} {Size(Math.Max(entry.Bytes, 0)),10} {source,-22} {entry.Status,6} {entry.LatencyMs.ToString("0.0", CultureInfo.InvariantCulture) + " ms",9} {rate,12}");
    }

    var a = (await nodeA.ContentDigestsAsync()).Order().ToList();
    var b = (await nodeB.ContentDigestsAsync()).Order().ToList();
    Console.WriteLine();
    Console.WriteLine(a.SequenceEqual(b)
        ? $"node-b now holds the same {b.Count} blobs as node-a, with the upstream down the whole time."
        : $"MISMATCH: node-a has {a.Count} blobs, node-b {b.Count}");
    Console.WriteLine(keep ? $"Logs and state kept in {root}" : "Run with --keep to keep the logs and state.");
    return a.SequenceEqual(b) ? 0 : 1;
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

static string Short(string reference) => reference.StartsWith("sha256:", StringComparison.Ordinal) ? reference[..19] + "…" : reference;

static string Size(long bytes) => bytes switch
{
    >= 1024 * 1024 => $"{bytes / 1024.0 / 1024.0:0.0} MiB",
    >= 1024 => $"{bytes / 1024.0:0.0} KiB",
    _ => $"{bytes} B",
};
