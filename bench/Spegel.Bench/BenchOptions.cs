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
        bool with1Gb = false;
        string? output = null;
        var binaries = new List<string>();
        var variants = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            string flag = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{flag}: a value is missing after it");
            int Number() => int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n : throw new ArgumentException($"{flag} {args[i]}: expected a whole number");
            switch (flag)
            {
                case "--with-1gb": with1Gb = true; break;
                case "--blob-mib": blob = Number(); break;
                case "--image-mib": image = Number(); break;
                case "--runs": runs = Number(); break;
                case "--out": output = Value(); break;
                case "--spegel-binary": binaries.Add(Path.GetFullPath(Value())); break;
                case "--nodes": nodes = Number(); break;
                case "--keys": keys = Number(); break;
                case "--lookups": lookups = Number(); break;
                case "--throughput-mib": throughput = Number(); break;
                case "--upstream-rate": rate = Value(); break;
                case "--workers": workers = Number(); break;
                case "--chunk-mib": chunk = Number(); break;
                case "--peer-rate": peerRate = Value(); break;
                case "--memory-limit-mib": memoryLimit = Number(); break; // 0: no limit
                case "--variant":
                    string variant = Value();
                    if (!variant.Split(',').All(kv => kv.Contains('=', StringComparison.Ordinal)))
                    {
                        throw new ArgumentException($"--variant {variant}: expected NAME=VALUE[,NAME=VALUE] (environment variables, e.g. DOTNET_GCgen0size=400000)");
                    }

                    variants.Add(variant);
                    break;
                default:
                    // An unknown flag (a typo, --help) ran the whole benchmark with defaults for minutes: refused instead.
                    throw new ArgumentException($"{flag}: unknown option");
            }
        }

        return new BenchOptions(blob, image, runs, output) { Nodes = nodes, Keys = keys, Lookups = lookups, ThroughputMiB = throughput, UpstreamRate = rate, With1Gb = with1Gb, MemoryLimitMiB = memoryLimit, KeysGiven = args.Contains("--keys"), Variants = variants, SpegelBinaries = binaries, Workers = workers, ChunkMiB = chunk, PeerRate = peerRate };
    }
}
