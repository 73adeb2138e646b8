using System.Diagnostics;
using System.Globalization;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Primitives;

namespace Spegel.Bench;

/// <summary>
/// What one ADD_PROVIDER costs the provider store (under its lock, which lookups and answers wait on), below its cap and
/// in a full store that a flood keeps full: every record then evicts another. Baseline: the same store filling up, in
/// the same run. A full store must not make a record cost much more than a store with room: else a member of the DHT
/// sending small messages buys a node's CPU.
/// </summary>
internal static class StoreBenchmark
{
    private const int Measured = 20_000;
    private const int HeavyRest = ProviderStore.MaxRecords - (6 * ProviderStore.MaxRecordsPerPeer);

    public static async Task<int> RunAsync(BenchOptions options)
    {
        var report = new BenchReport();
        int runs = Math.Max(1, options.Runs);
        report.Line($"# Provider store under a flood ({DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores)");
        report.Line("");
        report.Line($"Command: `dotnet run --project bench/Spegel.Bench -c Release -- store --runs {runs}`");
        report.Line("");
        report.Line($"{Measured:N0} records added in each case (8,192 in the last), {runs} runs; µs per record (median, range). Baseline: adding records to a store with room (the cap is {ProviderStore.MaxRecords:N0}).");
        report.Line("");
        var cases = new (string Name, Func<double> Run)[]
        {
            ("store with room (baseline)", () => Measure(Fill(heavy: 0, light: 0), NewIds(3), perPeer: Measured / 3)),
            ("full (6 peers × 8,192 records and 848 of one): 40 new identities add 500 each", () => Measure(Fill(heavy: 6, light: HeavyRest), NewIds(40), perPeer: Measured / 40)),
            ("full (50,000 identities × 1 record): new identities add one each", () => Measure(Fill(heavy: 0, light: ProviderStore.MaxRecords), NewIds(Measured), perPeer: 1)),
            ("full (6 peers × 8,192 and 848 of one): one new identity adds 8,192", () => Measure(Fill(heavy: 6, light: HeavyRest), NewIds(1), perPeer: ProviderStore.MaxRecordsPerPeer)),
        };
        var results = cases.Select(c => (c.Name, Runs: new List<double>())).ToList();
        for (int run = 0; run < runs; run++)
        {
            for (int i = 0; i < cases.Length; i++)
            {
                results[i].Runs.Add(cases[i].Run());
            }
        }

        double baseline = Median(results[0].Runs);
        report.Line("| case | µs per record: median (range) | ratio to baseline |");
        report.Line("|---|---|---|");
        foreach (var (name, values) in results)
        {
            report.Line(string.Create(CultureInfo.InvariantCulture, $"| {name} | {Median(values):0.00} ({values.Min():0.00}–{values.Max():0.00}) | {Median(values) / baseline:0.0}× |"));
        }

        await report.SaveAsync(options.Out);
        return 0;
    }

    /// <summary>A store filled by <paramref name="heavy"/> peers of 8,192 records and <paramref name="light"/> peers of one.</summary>
    private static ProviderStore Fill(int heavy, int light)
    {
        var store = new ProviderStore(TimeProvider.System, TimeSpan.FromMinutes(19));
        int key = 0;
        foreach (var peer in NewIds(heavy))
        {
            for (int i = 0; i < ProviderStore.MaxRecordsPerPeer; i++)
            {
                store.Add(Key(key++), peer);
            }
        }

        foreach (var peer in NewIds(light))
        {
            store.Add(Key(key++), peer);
        }

        return store;
    }

    /// <summary>µs per record for <paramref name="peers"/> adding <paramref name="perPeer"/> new keys each (whether held or refused).</summary>
    private static double Measure(ProviderStore store, IReadOnlyList<PeerId> peers, int perPeer)
    {
        var keys = Enumerable.Range(0, peers.Count * perPeer).Select(i => Key(-1 - i)).ToArray();
        var watch = Stopwatch.StartNew();
        int k = 0;
        foreach (var peer in peers)
        {
            for (int i = 0; i < perPeer; i++)
            {
                store.Add(keys[k++], peer);
            }
        }

        return watch.Elapsed.TotalMicroseconds / k;
    }

    private static List<PeerId> NewIds(int count)
    {
        // Identities as a flood makes them: Ed25519 keys from random seeds (generation is not what is measured).
        var random = new Random(count);
        var ids = new List<PeerId>(count);
        for (int i = 0; i < count; i++)
        {
            var seed = new byte[32];
            random.NextBytes(seed);
            ids.Add(new PrivateKey(seed).PeerId);
        }

        return ids;
    }

    private static Multihash Key(int i) => Multihash.Sha256(BitConverter.GetBytes(i));

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
