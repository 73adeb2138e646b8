using System.Diagnostics;
using Microsoft.Extensions.Time.Testing;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Primitives;

namespace Spegel.Bench.Scale;

/// <summary>Settings of one simulated cluster.</summary>
internal sealed record ScaleSettings(int Nodes, int KeysPerNode, int Lookups, int ChurnMinutes, int ObserveMinutes, int Images, int Workers, int Seed)
{
    /// <summary>Nodes provide as they join and a whole cycle settles before the measured one (else they provide a minute after joining).</summary>
    public bool Settle { get; init; }

    /// <summary>Each node keeps the keys of a 1/Sample sample of the key universe (memory: see the report).</summary>
    public int Sample { get; init; } = 1;

    /// <summary>Share of the nodes that leave (and of new ones that join) per minute during churn.</summary>
    public double ChurnPerMinute { get; init; } = 0.10;

    public LinkModel Links { get; init; } = new();

    public DhtOptions Dht { get; init; } = new();

    public string Variant { get; init; } = "explore";

    /// <summary>Reprovide cycles run unmeasured after the first provides (the skip rule's steady state: the records of skipped keys have expired).</summary>
    public int WarmCycles { get; init; }
}

/// <summary>
/// One simulated cluster, in simulated seconds: a rolling start over the first minute (each node joins through one
/// earlier node, refreshes, provides all its keys), one full reprovide cycle measured (60 s .. 960 s: messages per node
/// and per second, lookups), then churn (10 % of the nodes replaced per minute) with lookups of departed nodes' keys.
/// The maintenance loops' bodies (<see cref="Dht.ReprovideSliceAsync"/>, <see cref="Dht.RefreshAsync"/>) run on the
/// loops' schedule from here, so the driver knows when each has finished; everything below them is the product's code.
/// </summary>
internal sealed class ScaleRun
{
    private const int CycleStart = 60;
    private readonly ScaleSettings _settings;
    private readonly SimNetwork _network;
    private readonly KeyPopulation _population;
    private readonly Random _random;
    private readonly Stopwatch _wall = Stopwatch.StartNew();
    private int _lookupSeed;

    public ScaleRun(ScaleSettings settings)
    {
        _settings = settings;
        _random = new Random(settings.Seed);
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
        _network = new SimNetwork(settings.Links, settings.Dht, time, settings.Seed);
        _population = new KeyPopulation(settings.Images, 40, 1.0, settings.Seed);
        _network.HotKey = _population.HotKey;
    }

    private int Cycle => (int)_settings.Dht.ReprovideInterval.TotalSeconds;

    public async Task<ScaleResult> RunAsync()
    {
        var result = new ScaleResult { Variant = _settings.Variant, Nodes = _settings.Nodes, KeysPerNodeTarget = _settings.KeysPerNode, Images = _settings.Images, ChurnMinutes = _settings.ChurnMinutes, ObserveMinutes = _settings.ObserveMinutes, Sample = _settings.Sample, Settle = _settings.Settle, DepartedCheck = _settings.Dht.DepartedProviderCheck > TimeSpan.Zero, WarmCycles = _settings.WarmCycles, EnoughProviders = _settings.Dht.EnoughProviders, ServerGc = System.Runtime.GCSettings.IsServerGC };
        long heapBefore = GC.GetTotalMemory(forceFullCollection: true);

        // Rolling start: node i joins at a random second of the first minute; its reprovide ticks keep that phase.
        var phases = Enumerable.Range(0, _settings.Nodes).Select(_ => _random.Next(CycleStart)).Order().ToList();
        int joined = 0;
        for (int second = 0; second < CycleStart; second++)
        {
            var joining = new List<SimNode>();
            while (joined < phases.Count && phases[joined] == second)
            {
                joining.Add(await CreateAsync(second));
                joined++;
            }

            await JoinAsync(joining, provide: _settings.Settle);
            await StepAsync(second, lookups: 0, result: null);
            Progress($"N={_settings.Nodes}: start {second + 1}/{CycleStart} s, {joined} nodes");
        }

        int measured;
        if (_settings.Settle)
        {
            // One reprovide cycle to settle: in the first one, the records of the nodes that started early sit where the
            // DHT was small (a fresh cluster's first 15 minutes); then one cycle measured.
            for (int second = CycleStart; second < CycleStart + Cycle; second++)
            {
                await StepAsync(second, 0, null);
                if ((second - CycleStart) % 60 == 59)
                {
                    Progress($"N={_settings.Nodes}: settling cycle {second - CycleStart + 1}/{Cycle} s");
                }
            }

            measured = CycleStart + Cycle;
        }
        else
        {
            // Every node provides its keys a minute after it joined (once the whole cluster is up: no settling needed).
            for (int second = CycleStart; second < 2 * CycleStart; second++)
            {
                var providing = _network.Live.Where(n => n.JoinedSecond + CycleStart == second).ToList();
                await Parallel.ForEachAsync(providing, new ParallelOptions { MaxDegreeOfParallelism = _settings.Workers }, async (node, ct) => await node.Dht.ProvideAsync(node.Keys, ct));
                await StepAsync(second, 0, null);
                Progress($"N={_settings.Nodes}: first provides {second - CycleStart + 1}/{CycleStart} s");
            }

            measured = 2 * CycleStart;
        }

        // Unmeasured cycles: with the skip rule, the records of the first provides that later reprovides leave out expire
        // (19 min) during the first measured minutes, so what is measured is the rule's steady state.
        for (int second = measured; second < measured + (_settings.WarmCycles * Cycle); second++)
        {
            await StepAsync(second, 0, null);
            if ((second - measured) % 60 == 59)
            {
                Progress($"N={_settings.Nodes}: warm cycle {(second - measured + 1) / 60}/{_settings.WarmCycles * Cycle / 60} min");
            }
        }

        measured += _settings.WarmCycles * Cycle;

        _network.OpenWindow(Cycle);
        var lookups = Spread(_settings.Lookups, Cycle);
        for (int second = measured; second < measured + Cycle; second++)
        {
            await StepAsync(second, lookups[second - measured], result.Steady);
            if ((second - measured) % 60 == 59)
            {
                Progress($"N={_settings.Nodes}: measured cycle {second - measured + 1}/{Cycle} s, {result.Steady.Count} lookups, {Found(result.Steady):P2} found a live provider");
            }
        }

        _network.CloseWindow();
        Collect(result);
        long heapAfter = GC.GetTotalMemory(forceFullCollection: true);
        result.HeapPerNodeBytes = (heapAfter - heapBefore) / (double)_settings.Nodes;
        result.HotKey = HotKeyStats();
        Progress($"N={_settings.Nodes}: cycle done at {_wall.Elapsed.TotalSeconds:0} s wall; heap {heapAfter / 1048576.0:0} MiB");

        // Churn: every second, a share of the live nodes leaves and as many new ones join.
        // Then the membership holds still while lookups of departed nodes' keys go on, until their records expire.
        int churnStart = measured + Cycle;
        int churnEnd = churnStart + (_settings.ChurnMinutes * 60);
        int observeEnd = churnEnd + (_settings.ObserveMinutes * 60);
        double perSecond = _settings.Nodes * _settings.ChurnPerMinute / 60, owed = 0;
        for (int second = churnStart; second < observeEnd; second++)
        {
            owed += second < churnEnd ? perSecond : 0;
            var live = _network.Live.ToList();
            var joining = new List<SimNode>();
            for (; owed >= 1; owed--)
            {
                _network.Leave(live[_random.Next(live.Count)], _random);
                joining.Add(await CreateAsync(second));
            }

            await JoinAsync(joining);
            await StepAsync(second, second % 2 == 0 ? 1 : 0, result.Churn);
            DepartedLookups(second, result);
            if ((second - churnStart) % 60 == 59)
            {
                Progress($"N={_settings.Nodes}: churn and after {(second - churnStart + 1) / 60}/{_settings.ChurnMinutes}+{_settings.ObserveMinutes} min, {_network.Nodes.Count} nodes ever, {result.Departed.Count(d => d.Returned)} of {result.Departed.Count} departed-key lookups named the departed node; heap {GC.GetTotalMemory(false) / 1048576.0:0} MiB");
            }
        }

        result.BytesPerRecord = MeasureRecordBytes();
        result.BytesPerPeerEntry = MeasurePeerEntryBytes();
        result.WallSeconds = _wall.Elapsed.TotalSeconds;
        result.PeakWorkingSetMiB = Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0;
        result.OffPump = result.Steady.Sum(l => l.OffPump) + result.Churn.Sum(l => l.OffPump);
        return result;
    }

    private async Task<SimNode> CreateAsync(int second)
    {
        _network.Second = second;
        var node = await _network.AddNodeAsync(second % CycleStart);
        node.NextSlice = node.Dht.FirstSlice; // where ReprovideLoopAsync starts its sweep
        node.Keys = _population.NodeKeys(_settings.KeysPerNode, _random, _settings.Sample);
        return node;
    }

    /// <summary>What a starting node does: bootstrap through one live node (Spegel's bootstrapper names one), refresh, provide all keys.</summary>
    private async Task JoinAsync(List<SimNode> joining, bool provide = true)
    {
        var live = _network.Live.Where(n => !joining.Contains(n)).ToList();
        foreach (var node in joining)
        {
            if (live.Count > 0)
            {
                _network.Connect(node, live[_random.Next(live.Count)]);
            }

            live.Add(node);
        }

        await Parallel.ForEachAsync(joining, new ParallelOptions { MaxDegreeOfParallelism = _settings.Workers }, async (node, ct) =>
        {
            if (node.Dht.HasPeers)
            {
                await node.Dht.RefreshAsync(ct);
            }

            if (provide)
            {
                await node.Dht.ProvideAsync(node.Keys, ct);
            }
        });
    }

    /// <summary>One simulated second: the reprovide and refresh ticks that fall in it, then lookups, then the clock moves on.</summary>
    private async Task StepAsync(int second, int lookups, List<LookupSample>? result)
    {
        _network.Second = second;
        int tick = (int)(_settings.Dht.ReprovideInterval / _settings.Dht.ReprovideSlices).TotalSeconds;
        int refresh = (int)_settings.Dht.RefreshInterval.TotalSeconds;
        var due = _network.Live.Where(n => second > n.JoinedSecond && (second - n.JoinedSecond) % tick == 0).ToList();
        await Parallel.ForEachAsync(due, new ParallelOptions { MaxDegreeOfParallelism = _settings.Workers }, async (node, ct) =>
        {
            await node.Dht.ReprovideSliceAsync(node.NextSlice, ct);
            node.NextSlice = (node.NextSlice + 1) % _settings.Dht.ReprovideSlices;
            if ((second - node.JoinedSecond) % refresh == 0)
            {
                await node.Dht.RefreshAsync(ct);
            }
        });

        var checks = _network.DepartureChecks.Where(c => c.Second <= second && c.Holder.Alive).ToList();
        _network.DepartureChecks.RemoveAll(c => c.Second <= second);
        await Parallel.ForEachAsync(checks, new ParallelOptions { MaxDegreeOfParallelism = _settings.Workers }, async (check, ct) => await check.Holder.Dht.CheckProviderAsync(check.Provider, ct));

        if (result is not null && lookups > 0)
        {
            var live = _network.Live.ToList();
            var samples = new LookupSample[lookups];
            var plans = Enumerable.Range(0, lookups).Select(_ => Plan(live)).ToList();
            Parallel.For(0, lookups, new ParallelOptions { MaxDegreeOfParallelism = _settings.Workers }, i => samples[i] = Measure(plans[i].Finder, plans[i].Key, second));
            result.AddRange(samples);
        }

        _network.Time.Advance(TimeSpan.FromSeconds(1));
    }

    /// <summary>A lookup as a pulling node makes it: a key that some other live node has and the finder lacks.</summary>
    private (SimNode Finder, Multihash Key) Plan(List<SimNode> live)
    {
        while (true)
        {
            var finder = live[_random.Next(live.Count)];
            var owner = live[_random.Next(live.Count)];
            if (owner == finder)
            {
                continue;
            }

            var key = owner.Keys[_random.Next(owner.Keys.Count)];
            if (!finder.Dht.Providers.IsLocal(key))
            {
                return (finder, key);
            }
        }
    }

    private LookupSample Measure(SimNode finder, Multihash key, int second)
    {
        var run = SimLookup.Run(finder, key, Interlocked.Increment(ref _lookupSeed));
        var firstAny = run.Providers.FirstOrDefault();
        int firstLive = -1;
        for (int i = 0; i < run.Providers.Count; i++)
        {
            if (_network.Find(run.Providers[i].Provider) is { Alive: true })
            {
                firstLive = i;
                break;
            }
        }

        int holders = _network.Live.Count(n => n != finder && n.Dht.Providers.IsLocal(key));
        if (firstLive < 0 && Environment.GetEnvironmentVariable("SCALE_DEBUG") is not null)
        {
            var position = KeySpace.Position(key.Bytes);
            var closest = _network.Live.OrderBy(n => n, Comparer<SimNode>.Create((a, b) => KeySpace.CompareDistance(position, KeySpace.Position(a.Id.Bytes), KeySpace.Position(b.Id.Bytes)))).ToList();
            var owners = _network.Live.Where(n => n != finder && n.Dht.Providers.IsLocal(key)).ToList();
            var holding = closest.Select((n, rank) => (n, rank)).Where(x => x.n.Dht.Providers.Get(key).Any(p => owners.Any(o => o.Id.Equals(p)))).Select(x => x.rank).ToList();
            int finderRank = closest.IndexOf(finder);
            Console.Error.WriteLine($"MISS second {second}: owners joined at {string.Join(",", owners.Select(o => o.JoinedSecond))} slice now {string.Join(",", owners.Select(o => o.NextSlice))} key slice {owners[0].Dht.SliceOf(key)}; record ranks {string.Join(",", holding)}; finder rank {finderRank}, finder rt {finder.Dht.RoutingTable.Count}, requests {run.Requests}");
        }

        return new LookupSample(
            second,
            holders,
            run.Providers.Count,
            firstAny?.Ms ?? double.NaN,
            firstAny?.Round ?? -1,
            firstLive >= 0 ? run.Providers[firstLive].Ms : double.NaN,
            firstLive >= 0 ? run.Providers[firstLive].Round : -1,
            firstLive >= 0 ? firstLive : run.Providers.Count(p => _network.Find(p.Provider) is { Alive: false }),
            run.Requests,
            run.OffPump);
    }

    /// <summary>Lookups of a departed node's keys, at ages spread over the churn, to see how long it is still named.</summary>
    private void DepartedLookups(int second, ScaleResult result)
    {
        if (second % 5 != 0)
        {
            return;
        }

        var departed = _network.Nodes.Where(n => !n.Alive).ToList();
        var live = _network.Live.ToList();
        if (departed.Count == 0)
        {
            return;
        }

        var plans = Enumerable.Range(0, 2).Select(_ =>
        {
            var gone = departed[_random.Next(departed.Count)];
            return (Gone: gone, Finder: live[_random.Next(live.Count)], Key: gone.Keys[_random.Next(gone.Keys.Count)]);
        }).ToList();
        var samples = new DepartedSample[plans.Count];
        Parallel.For(0, plans.Count, new ParallelOptions { MaxDegreeOfParallelism = _settings.Workers }, i =>
        {
            var (gone, finder, key) = plans[i];
            var run = SimLookup.Run(finder, key, Interlocked.Increment(ref _lookupSeed));
            int index = run.Providers.ToList().FindIndex(p => p.Provider.Equals(gone.Id));
            samples[i] = new DepartedSample(second - gone.LeftSecond, index >= 0, index, run.Providers.Count);
        });
        result.Departed.AddRange(samples);
    }

    private void Collect(ScaleResult result)
    {
        var nodes = _network.Nodes.Where(n => n.Alive).ToList();
        result.KeysPerNodeMean = nodes.Average(n => n.Keys.Count);
        result.DistinctKeys = nodes.SelectMany(n => n.Keys).Distinct().Count();
        result.RecordsPerNode = nodes.Select(n => (double)n.Dht.Providers.RecordCount).ToList();
        foreach (Counter counter in Enum.GetValues<Counter>().Where(c => c != Counter.Count))
        {
            result.PerNode[counter.ToString()] = nodes.Select(n => (double)n.Counters[(int)counter]).ToList();
        }

        result.PeakSentPerSecond = nodes.Select(n => (double)n.SentPerSecond!.Max()).ToList();
        result.PeakReceivedPerSecond = nodes.Select(n => (double)n.ReceivedPerSecond!.Max()).ToList();
        var median = nodes.OrderBy(n => n.ReceivedPerSecond!.Sum()).ElementAt(nodes.Count / 2);
        result.MedianNodeReceivedPerSecond = [.. median.ReceivedPerSecond!];
        result.ClusterSentPerSecond = Enumerable.Range(0, Cycle).Select(s => (double)nodes.Sum(n => n.SentPerSecond![s])).ToList();
    }

    private HotKeyStats HotKeyStats()
    {
        var key = _population.HotKey;
        var holding = _network.Live.Select(n => n.Dht.Providers.Get(key).Count).Where(c => c > 0).ToList();
        // A node that holds no records of the key (it never yields itself), so the answer comes from the DHT.
        var finder = _network.Live.FirstOrDefault(n => n.Dht.Providers.Get(key).Count == 0) ?? _network.Live.First();
        var run = SimLookup.Run(finder, key, Interlocked.Increment(ref _lookupSeed));
        return new HotKeyStats(
            _network.Live.Count(n => n.Dht.Providers.IsLocal(key)),
            holding.Count,
            holding.Count == 0 ? 0 : holding.Max(),
            _network.Live.Max(n => n.Counters[(int)Counter.HotKeyAddReceived]),
            run.Providers.Count,
            run.Requests);
    }

    /// <summary>Bytes of one provider record: the heap before and after every node's records expire.</summary>
    private double MeasureRecordBytes()
    {
        long records = _network.Live.Sum(n => (long)n.Dht.Providers.RecordCount);
        long before = GC.GetTotalMemory(forceFullCollection: true);
        _network.Time.Advance(_settings.Dht.ProvideValidity + TimeSpan.FromMinutes(1));
        foreach (var node in _network.Live)
        {
            node.Dht.Providers.RemoveExpired();
        }

        long after = GC.GetTotalMemory(forceFullCollection: true);
        return records == 0 ? 0 : (before - after) / (double)records;
    }

    /// <summary>Bytes of one peer-store entry as a provider's ADD_PROVIDER and identify leave it (one address, the DHT protocol).</summary>
    private double MeasurePeerEntryBytes()
    {
        const int Peers = 4096;
        var ids = _network.Nodes.Take(Peers).Select(n => (n.Id, Address: Spegel.Libp2p.Primitives.Multiaddr.FromEndPoint(new System.Net.IPEndPoint(new System.Net.IPAddress([10, 200, (byte)(n.Index >> 8), (byte)n.Index]), 5001)))).ToList();
        long before = GC.GetTotalMemory(forceFullCollection: true);
        var store = new Spegel.Libp2p.Transport.PeerStore(_network.Time);
        foreach (var (id, address) in ids)
        {
            store.AddAddresses(id, [address], TimeSpan.FromHours(1));
            store.SetProtocols(id, [_settings.Dht.ProtocolId], [_settings.Dht.ProtocolId]);
        }

        long after = GC.GetTotalMemory(forceFullCollection: true);
        GC.KeepAlive(store);
        return (after - before) / (double)ids.Count;
    }

    private int[] Spread(int count, int seconds)
    {
        var perSecond = new int[seconds];
        for (int i = 0; i < count; i++)
        {
            perSecond[_random.Next(seconds)]++;
        }

        return perSecond;
    }

    private static double Found(List<LookupSample> samples) => samples.Count == 0 ? 0 : samples.Count(s => s.FirstLiveRound >= 0) / (double)samples.Count;

    private static void Progress(string text) => Console.Error.WriteLine($"… {DateTime.UtcNow:HH:mm:ss} {text}");
}

/// <summary>One timed lookup: how many live nodes hold the key, providers yielded, first provider and first live one (ms, round), dead ones before it, requests.</summary>
internal sealed record LookupSample(int Second, int Holders, int Providers, double FirstMs, int FirstRound, double FirstLiveMs, int FirstLiveRound, int DeadBeforeLive, int Requests, int OffPump);

/// <summary>A lookup of a departed node's key: how long ago it left, and whether (and at which position) it was still named.</summary>
internal sealed record DepartedSample(int AgeSeconds, bool Returned, int Position, int Providers);

internal sealed record HotKeyStats(int Holders, int NodesWithRecords, int MaxRecordsOnANode, long MaxAddProviderReceivedPerCycle, int ProvidersReturned, int LookupRequests);

internal sealed class ScaleResult
{
    public string Variant { get; set; } = "explore";

    public int Nodes { get; set; }

    public int KeysPerNodeTarget { get; set; }

    public int Images { get; set; }

    public int ChurnMinutes { get; set; }

    public int ObserveMinutes { get; set; }

    public int Sample { get; set; } = 1;

    public bool Settle { get; set; }

    /// <summary>Whether holders checked on departed providers (DhtOptions.DepartedProviderCheck; absent in runs before it).</summary>
    public bool DepartedCheck { get; set; }

    /// <summary>Unmeasured reprovide cycles before the measured one (absent in runs before the skip rule: 0).</summary>
    public int WarmCycles { get; set; }

    /// <summary>Whether the simulation ran with the server GC (DOTNET_gcServer=1: the 5,000-node heap of gigabytes).</summary>
    public bool ServerGc { get; set; }

    /// <summary>DhtOptions.EnoughProviders of the run (absent in runs before the skip rule: 0, every key sent every cycle).</summary>
    public int EnoughProviders { get; set; }

    public double KeysPerNodeMean { get; set; }

    public int DistinctKeys { get; set; }

    public List<LookupSample> Steady { get; set; } = [];

    public List<LookupSample> Churn { get; set; } = [];

    public List<DepartedSample> Departed { get; set; } = [];

    public List<double> RecordsPerNode { get; set; } = [];

    public Dictionary<string, List<double>> PerNode { get; set; } = [];

    public List<double> PeakSentPerSecond { get; set; } = [];

    public List<double> PeakReceivedPerSecond { get; set; } = [];

    public List<int> MedianNodeReceivedPerSecond { get; set; } = [];

    public List<double> ClusterSentPerSecond { get; set; } = [];

    public HotKeyStats? HotKey { get; set; }

    public double HeapPerNodeBytes { get; set; }

    public double BytesPerRecord { get; set; }

    public double BytesPerPeerEntry { get; set; }

    public double WallSeconds { get; set; }

    public double PeakWorkingSetMiB { get; set; }

    public int OffPump { get; set; }
}
