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

    public static BenchOptions Parse(string[] args)
    {
        int blob = 1024, image = 250, runs = 3, nodes = 50, keys = 10_000, lookups = 500, throughput = 1024;
        string rate = "100mbit";
        bool with1Gb = args.Contains("--with-1gb");
        string? output = null;
        for (int i = 0; i < args.Length - 1; i++)
        {
            switch (args[i])
            {
                case "--blob-mib": blob = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--image-mib": image = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--runs": runs = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--out": output = args[++i]; break;
                case "--nodes": nodes = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--keys": keys = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--lookups": lookups = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--throughput-mib": throughput = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--upstream-rate": rate = args[++i]; break;
            }
        }

        return new BenchOptions(blob, image, runs, output) { Nodes = nodes, Keys = keys, Lookups = lookups, ThroughputMiB = throughput, UpstreamRate = rate, With1Gb = with1Gb };
    }
}
