using System.Globalization;
using Spegel.Testbed;

namespace Spegel.Bench;

/// <summary>
/// Issue 12: spegel's memory idle with ~2,000 advertised keys, in a 128 MiB memory group as in the pod, beside the
/// runtime's floor measured the same way (a Kestrel app that does nothing: <see cref="FloorApp"/>), and under runtime
/// settings given as environment variables (each variant is a fresh spegel on the same containerd, so the figures
/// compare within one run). Per variant: resident memory after the keys are advertised and 10 s idle, its peak
/// (VmHWM) since start, the managed heap (<c>dotnet_total_memory_bytes</c> from /metrics: GC.GetTotalMemory), threads.
/// </summary>
internal static class MemoryBenchmark
{
    private const int LayersPerImage = 4;
    private const string BaseName = "registry.test:5000/mem/app";
    private const long LoadBlobBytes = 64L * 1024 * 1024;
    private const int LoadStreams = 8;
    private const int LoadRounds = 3;

    public static async Task<int> RunAsync(BenchOptions options)
    {
        Tools.Require(Tools.Containerd, Tools.Ctr);
        int keys = options.KeysGiven ? options.Keys : 2000;
        long limit = (options.MemoryLimitMiB > 0 ? options.MemoryLimitMiB : 128) * 1024L * 1024L;
        string root = Directory.CreateTempSubdirectory("spegel-mem-").FullName;
        var report = new BenchReport();
        try
        {
            // Keys of an image: its tag, manifest, config and layers.
            int images = (keys + LayersPerImage + 2) / (LayersPerImage + 3);
            Progress($"building {images} images of {LayersPerImage} small layers (~{images * (LayersPerImage + 3)} keys) and importing them");
            var layout = new OciLayout(Path.Combine(root, "layout"));
            for (int i = 0; i < images; i++)
            {
                TestImages.BuildImage(layout, "mem", $"t{i}", Enumerable.Repeat(512L, LayersPerImage).ToArray(), seed: 100_000 + (i * 10));
            }

            // One 64 MiB layer for the serving load (its tag, manifest, config and layer are 4 keys more).
            TestImages.BuildImage(layout, "mem", "big", [LoadBlobBytes], seed: 99_000);
            int expectedKeys = (images * (LayersPerImage + 3)) + 4;

            string tar = Path.Combine(root, "layout.tar");
            (await ProcessRunner.RunAsync("tar", ["-C", layout.Folder, "-cf", tar, "."], TimeSpan.FromMinutes(2))).EnsureSuccess("tar of the layout");
            await using var node = await ContainerdNode.StartAsync(Path.Combine(root, "node"));
            (await node.Ctr(["images", "import", "--no-unpack", "--base-name", BaseName, tar], TimeSpan.FromMinutes(5))).EnsureSuccess("ctr images import");
            int imported = (await node.Ctr(["images", "ls", "-q"])).StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
            string loadDigest = (await node.ContentDigestsAsync())
                .Select(d => (Digest: d, File: new FileInfo(Path.Combine(node.ContentRoot, "blobs", "sha256", d["sha256:".Length..]))))
                .Where(d => d.File.Exists) // ctr lists content it knows of that an import did not write
                .MaxBy(d => d.File.Length).Digest;

            report.Line($"# Memory benchmark ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, {Environment.OSVersion})");
            report.Line(string.Empty);
            string flags = string.Concat(options.Variants.Select(v => $" --variant {v}")) + string.Concat(options.SpegelBinaries.Select(b => $" --spegel-binary {Path.GetFileName(Path.GetDirectoryName(b))}/spegel"));
            report.Line($"Command: `dotnet run --project bench/Spegel.Bench -c Release -- memory --keys {keys}{flags}`");
            report.Line(string.Empty);
            report.Line($"One containerd holding {imported} images ({LayersPerImage} layers of 512 B each). Each process runs alone in a cgroup-v1 memory group limited to {Measure.MiB(limit)} " +
                "(the chart's pod limit: .NET sizes its heap from it), started with `dotnet <dll>` (framework-dependent; the image is single-file and trimmed). " +
                "Idle: 10 s after spegel advertised every key (the floor: 10 s after it answered). Then the load: "+
                $"{LoadRounds} rounds of {LoadStreams} curl downloads at once of a 64 MiB blob over loopback; load peak: VmHWM and the group's max usage since start, and the median rate. Peak: VmHWM since start. Heap: GC.GetTotalMemory " +
                "(spegel's `dotnet_total_memory_bytes`). Variants are environment variables over the settings the csproj gives.");
            report.Line(string.Empty);
            report.Line("RSS splits into anonymous memory (heap, stacks, native allocations), file pages (the runtime and assemblies mapped: shared with every .NET process on the node, " +
                "charged to the group only when it first read them) and shmem (the runtime's double-mapped JIT code: W^X). The group peak counts what was charged to the group, page cache included.");
            report.Line(string.Empty);
            report.Line("| process | settings | advertised keys | idle RSS | anon | file | shmem | idle peak RSS | managed heap | threads | idle group peak | load: peak RSS | group peak | rate | OOM kills |");
            report.Line("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");

            var floorEnv = new Dictionary<string, string> { ["DOTNET_gcServer"] = "0", ["DOTNET_gcConcurrent"] = "1" };
            report.Line(await FloorAsync(root, limit, floorEnv, "workstation GC, concurrent (spegel's)"));
            var variants = new List<(string Name, Dictionary<string, string> Env)>
            {
                ("as built", []),
                ("DOTNET_GCgen0size=0x400000 (4 MiB)", new() { ["DOTNET_GCgen0size"] = "400000" }),
                ("DOTNET_GCConserveMemory=5", new() { ["DOTNET_GCConserveMemory"] = "5" }),
                ("DOTNET_gcConcurrent=0", new() { ["DOTNET_gcConcurrent"] = "0" }),
                ("DOTNET_TieredPGO=0", new() { ["DOTNET_TieredPGO"] = "0" }),
                ("DOTNET_TieredCompilation=0", new() { ["DOTNET_TieredCompilation"] = "0" }),
                ("DOTNET_EnableWriteXorExecute=0", new() { ["DOTNET_EnableWriteXorExecute"] = "0" }),
            };
            foreach (string extra in options.Variants)
            {
                var env = extra.Split(',').Select(kv => kv.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1], StringComparer.Ordinal);
                variants.Add((extra, env));
            }

            foreach (var (name, env) in variants)
            {
                Progress($"spegel: {name}");
                report.Line(await SpegelAsync(root, node, limit, env, name, expectedKeys, loadDigest, binary: null));
            }

            foreach (string shipped in options.SpegelBinaries)
            {
                // As the image runs it: single-file, trimmed, self-contained, with the Dockerfile's environment.
                var imageEnv = new Dictionary<string, string> { ["DOTNET_EnableDiagnostics"] = "0", ["DOTNET_SYSTEM_GLOBALIZATION_INVARIANT"] = "1" };
                foreach (var (name, env) in variants.Take(1).Concat(variants.Skip(1).Where(v => options.Variants.Contains(v.Name))))
                {
                    Progress($"spegel as shipped: {name}");
                    var merged = new Dictionary<string, string>(imageEnv.Concat(env), StringComparer.Ordinal);
                    report.Line(await SpegelAsync(root, node, limit, merged, $"single-file, trimmed, as the image runs it (`{Path.GetFileName(Path.GetDirectoryName(shipped))}`); {name}", expectedKeys, loadDigest, shipped));
                }
            }

            report.Line($"| spegel, no memory group | as built | | {await UnlimitedIdleAsync(root, node, expectedKeys)} | | | | | | | | | | | |");
            await report.SaveAsync(options.Out);
            return 0;
        }
        finally
        {
            Folders.DeleteQuietly(root);
        }
    }

    private static async Task<string> FloorAsync(string root, long limit, Dictionary<string, string> env, string settings)
    {
        using var group = MemoryCgroup.Create("floor-" + Guid.NewGuid().ToString("N")[..8], limit);
        int port = Network.FreePort();
        var daemon = Daemon.Start("sh", group.Wrap(["dotnet", Path.Combine(AppContext.BaseDirectory, "Spegel.Bench.dll"), "floor", port.ToString(CultureInfo.InvariantCulture)]).Skip(1), Path.Combine(root, "floor.log"), env);
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            await Network.WaitUntilAsync(async () => await Network.StatusAsync($"http://127.0.0.1:{port}/", null) == 200, TimeSpan.FromSeconds(60), "the floor app", daemon.ReadLog);
            await Task.Delay(10_000);
            string rss = Resident(daemon.Pid);
            long heap = long.Parse(await http.GetStringAsync(new Uri($"http://127.0.0.1:{port}/")), CultureInfo.InvariantCulture);
            return $"| Kestrel app doing nothing (floor) | {settings} | – | {rss} | {Measure.MiB(Measure.PeakResidentBytes(daemon.Pid))} | {Measure.MiB(heap)} | {Measure.ThreadCount(daemon.Pid)} | {Measure.MiB(group.MaxUsageBytes)} | – | – | – | {group.OomKills} |";
        }
        finally
        {
            await daemon.StopAsync(SpegelProcess.StopGrace);
            daemon.Close();
        }
    }

    private static async Task<string> SpegelAsync(string root, ContainerdNode node, long limit, Dictionary<string, string> env, string name, int expectedKeys, string loadDigest, string? binary)
    {
        using var group = MemoryCgroup.Create("mem-" + Guid.NewGuid().ToString("N")[..8], limit);
        await using var spegel = await SpegelProcess.StartAsync(
            Path.Combine(root, $"spegel-{Guid.NewGuid():N}.log"), $"127.0.0.1:{Network.FreePort()}",
            ["--containerd-sock", node.Socket, "--containerd-content-path", string.Empty, "--bootstrap-kind", "static", "--log-level", "INFO"],
            environment: env, launch: command => group.Wrap(binary is null ? ["dotnet", SpegelProcess.DefaultBinary, .. command] : [binary, .. command]));
        double advertised = await AdvertisedAsync(spegel, expectedKeys);
        await Task.Delay(10_000);
        string rss = Resident(spegel.Daemon.Pid);
        long peak = Measure.PeakResidentBytes(spegel.Daemon.Pid);
        long threads = Measure.ThreadCount(spegel.Daemon.Pid);
        double heap = SpegelProcess.Sample(await spegel.ScrapeAsync(), "dotnet_total_memory_bytes") ?? -1;
        long idleGroup = group.MaxUsageBytes;
        string url = $"{spegel.BaseAddress}v2/mem/app/blobs/{loadDigest}";
        var rates = new List<double>();
        for (int round = 0; round < LoadRounds && !spegel.Daemon.HasExited; round++)
        {
            try
            {
                rates.Add(await Measure.ParallelThroughputAsync(url, LoadStreams, LoadBlobBytes));
            }
            catch (InvalidOperationException) when (spegel.Daemon.HasExited)
            {
                // OOM-killed: said in the row.
            }
        }

        long loadPeak = Measure.PeakResidentBytes(spegel.Daemon.Pid);
        string oom = group.OomKills > 0 ? $" **OOM-killed {group.OomKills}×**" : string.Empty;
        return $"| spegel registry{oom} | {name} | {advertised:0} | {rss} | {Measure.MiB(peak)} | {Measure.MiB((long)heap)} | {threads} | {Measure.MiB(idleGroup)} " +
            $"| {(loadPeak < 0 ? "–" : Measure.MiB(loadPeak))} | {Measure.MiB(group.MaxUsageBytes)} | {(rates.Count == 0 ? "–" : Measure.MiBps(Measure.Median(rates)))} | {(group.OomKills > 0 ? $"**{group.OomKills}**" : "0")} |";
    }

    private static async Task<string> UnlimitedIdleAsync(string root, ContainerdNode node, int expectedKeys)
    {
        await using var spegel = await SpegelProcess.StartAsync(
            Path.Combine(root, "spegel-unlimited.log"), $"127.0.0.1:{Network.FreePort()}",
            ["--containerd-sock", node.Socket, "--containerd-content-path", string.Empty, "--bootstrap-kind", "static", "--log-level", "INFO"]);
        await AdvertisedAsync(spegel, expectedKeys);
        await Task.Delay(10_000);
        return Measure.MiB(Measure.ResidentBytes(spegel.Daemon.Pid));
    }

    /// <summary>Waits until spegel advertised every key (or 2 min), returns the count it reports.</summary>
    private static async Task<double> AdvertisedAsync(SpegelProcess spegel, int expectedKeys)
    {
        double keys = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
        while (DateTime.UtcNow < deadline)
        {
            keys = SumOf(await spegel.ScrapeAsync(), "spegel_advertised_keys");
            if (keys >= expectedKeys)
            {
                break;
            }

            await Task.Delay(500);
        }

        return keys;
    }

    /// <summary>VmRSS, then its anonymous, file and shmem parts, as table cells.</summary>
    private static string Resident(int pid) =>
        string.Join(" | ", new[] { "VmRSS", "RssAnon", "RssFile", "RssShmem" }.Select(f => Measure.MiB(Measure.StatusBytes(pid, f))));

    /// <summary>The sum of every sample of a metric over its labels (advertised keys are counted per registry).</summary>
    private static double SumOf(string exposition, string name) => exposition.Split('\n')
        .Where(l => l.StartsWith(name, StringComparison.Ordinal) && l.Length > name.Length && l[name.Length] is '{' or ' ')
        .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));

    private static void Progress(string text) => Console.Error.WriteLine($"… {text}");
}
