using System.Globalization;
using System.Text.Json;

namespace Spegel.Bench.Scale;

/// <summary>
/// Issue 13: the DHT at 100 to 5,000 nodes, simulated in one process with the real Kademlia code (see
/// <see cref="ScaleRun"/>). Each cluster size's figures are saved as JSON in the output folder as soon as it finishes,
/// and the report and charts are written from every JSON there, so sizes can be run one process at a time.
/// </summary>
internal static class ScaleBenchmark
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    public static async Task<int> RunAsync(string[] args)
    {
        var nodes = new List<int> { 100, 1000 };
        int keys = 1400, lookups = 5000, churn = 5, observe = 17, images = 5000, workers = 2, seed = 13;
        var samples = new Dictionary<int, int>();
        string folder = "docs/benchmarks/scale";
        bool reportOnly = false, oneLookupPerRegion = false, noDepartedCheck = false, settle = false, noSkip = false;
        int warmCycles = 0;
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--nodes": nodes = [.. Value().Split(',').Select(ParseCount("--nodes"))]; break;
                case "--keys-per-node": keys = ParseCount("--keys-per-node")(Value()); break;
                case "--sample-at":
                    // --sample-at 5000=25: at 5,000 nodes each node keeps the keys of a 1/25 sample of the key universe
                    // (memory), said in the report.
                    var pair = Value().Split('=');
                    samples[ParseCount("--sample-at")(pair[0])] = ParseCount("--sample-at")(pair.ElementAtOrDefault(1) ?? string.Empty);
                    break;
                case "--lookups": lookups = ParseCount("--lookups")(Value()); break;
                case "--churn-minutes": churn = ParseCount("--churn-minutes")(Value()); break;
                case "--observe-minutes": observe = ParseCount("--observe-minutes")(Value()); break;
                case "--images": images = ParseCount("--images")(Value()); break;
                case "--workers": workers = ParseCount("--workers")(Value()); break;
                case "--seed": seed = ParseCount("--seed")(Value()); break;
                case "--out": folder = Value(); break;
                case "--report-only": reportOnly = true; break;
                case "--one-lookup-per-region": oneLookupPerRegion = true; break; // the placement before issue 13, for comparison
                case "--settle": settle = true; break; // providing while joining, then a whole cycle before the measured one
                case "--no-departed-check": noDepartedCheck = true; break; // departed providers' records live until they expire, as before issue 13
                case "--no-skip": noSkip = true; break; // every key to its 20 closest every cycle (DhtOptions.EnoughProviders = 0), as before issue 13
                case "--warm-cycles": warmCycles = ParseCount("--warm-cycles")(Value()); break; // unmeasured reprovide cycles before the measured one
                case "--check":
                    // The simulation against loopback with the same nodes and keys: --check 50 (nodes), at a 1/10 key sample.
                    string table = await ScaleCheck.RunAsync(ParseCount("--check")(Value()), 10, 300, seed);
                    Directory.CreateDirectory(folder);
                    await File.WriteAllTextAsync(Path.Combine(folder, "check.md"), table + "\n");
                    Console.WriteLine(table);
                    return 0;
                default: throw new ArgumentException($"scale: unknown option {args[i]} (--nodes, --keys-per-node, --sample-at, --lookups, --churn-minutes, --observe-minutes, --images, --workers, --seed, --out, --report-only, --one-lookup-per-region, --no-departed-check, --no-skip, --warm-cycles, --settle, --check N)");
            }
        }

        Directory.CreateDirectory(folder);
        if (!reportOnly)
        {
            foreach (int n in nodes)
            {
                var settings = new ScaleSettings(n, keys, lookups, churn, observe, images, workers, seed)
                {
                    Dht = new Spegel.Libp2p.Kademlia.DhtOptions
                    {
                        ExploreRegions = !oneLookupPerRegion,
                        DepartedProviderCheck = noDepartedCheck ? TimeSpan.Zero : new Spegel.Libp2p.Kademlia.DhtOptions().DepartedProviderCheck,
                        EnoughProviders = noSkip ? 0 : new Spegel.Libp2p.Kademlia.DhtOptions().EnoughProviders,
                    },
                    Variant = Variant(oneLookupPerRegion, noDepartedCheck, noSkip),
                    WarmCycles = warmCycles,
                    Sample = samples.GetValueOrDefault(n, 1),
                    Settle = settle,
                };
                var result = await new ScaleRun(settings).RunAsync();
                string variant = Variant(oneLookupPerRegion, noDepartedCheck, noSkip);
                string path = Path.Combine(folder, $"n{n}{(variant == "explore" ? string.Empty : variant == "one-lookup-per-region" ? "-one-lookup" : "-" + variant)}.json");
                await File.WriteAllTextAsync(path, JsonSerializer.Serialize(result, Json));
                Console.Error.WriteLine($"… N={n} done in {result.WallSeconds:0} s wall, peak working set {result.PeakWorkingSetMiB:0} MiB: {path}");
                GC.Collect();
            }
        }

        var all = Directory.GetFiles(folder, "n*.json")
            .Select(f => JsonSerializer.Deserialize<ScaleResult>(File.ReadAllText(f), Json)!)
            .OrderBy(r => r.Nodes)
            .ToList();
        await ScaleReport.WriteAsync([.. all.Where(r => r.Variant == "explore")], [.. all.Where(r => r.Variant != "explore")], folder);
        return 0;
    }

    private static string Variant(bool oneLookupPerRegion, bool noDepartedCheck, bool noSkip) =>
        oneLookupPerRegion ? "one-lookup-per-region" : noDepartedCheck ? "no-departed-check" : noSkip ? "no-skip" : "explore";

    private static Func<string, int> ParseCount(string flag) => text =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value > 0
            ? value
            : throw new ArgumentException($"{flag} {text}: expected a positive whole number");
}
