using Spegel.Bench;

// Benchmarks. Each prints its baseline, measured in the same run, beside the figure and the ratio.
//   registry   blob throughput vs nginx, image pull through the mirror vs from the registry, memory (issue 2)
//   dht        lookup latency, providing 10,000 keys, memory per connection, yamux throughput (issue 3)
//   mirror     pulls through peers vs upstream at 100 Mbit/s, commit-to-resolvable delay, lookups, misses (issue 4)
//   suite      Spegel's "create" and "update" scenarios on a local cluster, with report and charts (issue 6)
//   memory     idle memory with ~2,000 advertised keys in a 128 MiB group, beside a do-nothing Kestrel app (issue 12)
//   serve      one node serving a large blob to another: nginx vs spegel direct vs through the puller's spegel
//   herd       the cold herd round after round: upstream bytes, herd vs lone pull vs no mirror, leaders per blob
//   scale      the DHT at 100 / 1,000 / 5,000 nodes, simulated in memory with the real Kademlia code (issue 13)
//   stripe     containerd 2.1's multipart fetch through a node, striped over 3 shaped holders, vs one stream (issue 12)
//   store      what one ADD_PROVIDER costs the provider store with room vs full under a flood (every record evicts one)
string scenario = args.FirstOrDefault() ?? "registry";
BenchOptions options;
try
{
    options = scenario is "scale" or "floor" ? BenchOptions.Parse([]) : BenchOptions.Parse(args.Skip(1).ToArray());
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine($"spegel bench {scenario}: {ex.Message}");
    return Usage();
}

if (scenario is "suite" or "herd" && !args.Contains("--nodes"))
{
    options = options with { Nodes = 4 };
}
return scenario switch
{
    "registry" => await RegistryBenchmark.RunAsync(options),
    "dht" => await DhtBenchmark.RunAsync(options),
    "mirror" => await MirrorBenchmark.RunAsync(options),
    "suite" => await SuiteBenchmark.RunAsync(options),
    "serve" => await ServeBenchmark.RunAsync(options),
    "herd" => await HerdBenchmark.RunAsync(options),
    "stripe" => await StripeBenchmark.RunAsync(options),
    "memory" => await MemoryBenchmark.RunAsync(options),
    "store" => await StoreBenchmark.RunAsync(options),
    "scale" => await Spegel.Bench.Scale.ScaleBenchmark.RunAsync(args.Skip(1).ToArray()),
    "floor" => await FloorApp.RunAsync(int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture)), // the memory benchmark's baseline process
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: dotnet run --project bench/Spegel.Bench -c Release -- registry [--blob-mib N] [--image-mib N] [--runs N] [--out FILE]\n       dotnet run --project bench/Spegel.Bench -c Release -- dht [--nodes N] [--keys N] [--lookups N] [--throughput-mib N] [--out FILE]\n       dotnet run --project bench/Spegel.Bench -c Release -- suite [--nodes N] [--upstream-rate R] [--memory-limit-mib N (0: none)] [--spegel-binary PATH] [--out FILE]\n       dotnet run --project bench/Spegel.Bench -c Release -- memory [--keys N] [--variant NAME=VALUE[,NAME=VALUE]]... [--spegel-binary PATH]... [--out FILE]");
    return 2;
}
