using System.Globalization;

namespace Spegel.Bench;

internal sealed record BenchOptions(int BlobMiB, int ImageMiB, int Runs, string? Out)
{
    public int Nodes { get; init; } = 50;

    public int Keys { get; init; } = 10_000;

    public int Lookups { get; init; } = 500;

    public int ThroughputMiB { get; init; } = 1024;

    public string UpstreamRate { get; init; } = "100mbit";

    public bool With1Gb { get; init; }

    /// <summary>stripe: the multipart client's workers (containerd's <c>max_concurrent_downloads</c>).</summary>
    public int Workers { get; init; } = 8;

    /// <summary>stripe: its chunk size in MiB (containerd's <c>concurrent_layer_fetch_buffer</c>).</summary>
    public int ChunkMiB { get; init; } = 32;

    /// <summary>stripe: each holder's egress rate (tc tbf).</summary>
    public string PeerRate { get; init; } = "1gbit";

    /// <summary>The memory limit of each node's spegel (a cgroup, as the chart's pod limit); 0: none.</summary>
    public int MemoryLimitMiB { get; init; } = 128;

    /// <summary>Extra runtime settings the memory scenario measures (--variant NAME=VALUE[,NAME=VALUE], repeatable).</summary>
    public IReadOnlyList<string> Variants { get; init; } = [];

    /// <summary>A published spegel executable the memory scenario also measures (--spegel-binary: the image's single-file build).</summary>
    public string? SpegelBinary => SpegelBinaries.FirstOrDefault();

    /// <summary>Every --spegel-binary given (the memory scenario measures each).</summary>
    public IReadOnlyList<string> SpegelBinaries { get; init; } = [];

    /// <summary>Whether --keys was given (the memory scenario's default differs from the DHT's).</summary>
    public bool KeysGiven { get; init; }

    public static BenchOptions Parse(string[] args)
    {
        int blob = 1024, image = 250, runs = 3, nodes = 50, keys = 10_000, lookups = 500, throughput = 1024, memoryLimit = 128;
        string rate = "100mbit", peerRate = "1gbit";
        int workers = 8, chunk = 32;
        bool with1Gb = args.Contains("--with-1gb");
        string? output = null;
        var binaries = new List<string>();
        var variants = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] != "--with-1gb" && i == args.Length - 1)
            {
                throw new ArgumentException($"{args[i]}: unknown, or a value is missing after it");
            }

            switch (args[i])
            {
                case "--with-1gb": break;
                case "--blob-mib": blob = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--image-mib": image = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--runs": runs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--out": output = args[++i]; break;
                case "--spegel-binary": binaries.Add(Path.GetFullPath(args[++i])); break;
                case "--nodes": nodes = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--keys": keys = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--lookups": lookups = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--throughput-mib": throughput = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--upstream-rate": rate = args[++i]; break;
                case "--workers": workers = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--chunk-mib": chunk = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--peer-rate": peerRate = args[++i]; break;
                case "--variant":
                    if (!args[++i].Split(',').All(kv => kv.Contains('=', StringComparison.Ordinal)))
                    {
                        throw new ArgumentException($"--variant {args[i]}: expected NAME=VALUE[,NAME=VALUE] (environment variables, e.g. DOTNET_GCgen0size=400000)");
                    }

                    variants.Add(args[i]);
                    break;
                case "--memory-limit-mib":
                    if (!int.TryParse(args[++i], NumberStyles.None, CultureInfo.InvariantCulture, out memoryLimit))
                    {
                        throw new ArgumentException($"--memory-limit-mib {args[i]}: expected a whole number of MiB (0: no limit)");
                    }

                    break;
                default:
                    // An unknown flag (a typo, --help) ran the whole benchmark with defaults for minutes: refused instead.
                    throw new ArgumentException($"{args[i]}: unknown option");
            }
        }

        return new BenchOptions(blob, image, runs, output) { Nodes = nodes, Keys = keys, Lookups = lookups, ThroughputMiB = throughput, UpstreamRate = rate, With1Gb = with1Gb, MemoryLimitMiB = memoryLimit, KeysGiven = args.Contains("--keys"), Variants = variants, SpegelBinaries = binaries, Workers = workers, ChunkMiB = chunk, PeerRate = peerRate };
    }
}
