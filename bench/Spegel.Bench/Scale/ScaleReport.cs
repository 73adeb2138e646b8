using System.Globalization;
using System.Net;
using System.Text;
using Google.Protobuf;
using Spegel.Libp2p.Crypto;
using Spegel.Libp2p.Kademlia;
using Spegel.Libp2p.Primitives;
using Spegel.Libp2p.Protos;

namespace Spegel.Bench.Scale;

/// <summary>Writes <c>&lt;folder&gt;.md</c> (docs/benchmarks/scale.md) and the charts in the folder from every cluster size's results.</summary>
internal static class ScaleReport
{
    private static readonly System.Text.Json.JsonSerializerOptions JsonOptions = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    /// <summary>A real node's keys (issue 13): every per-key figure is also given at this many keys.</summary>
    private const double RealKeys = 1400;

    public static async Task WriteAsync(IReadOnlyList<ScaleResult> results, IReadOnlyList<ScaleResult> baselines, string folder)
    {
        if (results.Count == 0)
        {
            Console.Error.WriteLine($"no results in {folder}");
            return;
        }

        string name = Path.GetFileName(Path.GetFullPath(folder));
        var text = new StringBuilder();
        void Line(string line = "") => text.AppendLine(line);
        int addSize = AddProviderBytes();

        Line("# The DHT at 100 to 5,000 nodes (issue 13)");
        Line();
        Line("N nodes of our real Kademlia code (`Dht`: lookups, routing table, provider store, the reprovide sweep and the");
        Line("region exploration that places records) run in one process. Only the network is simulated: `Dht` sends through");
        Line("`IKadTransport` (in the product, `KadClient` on libp2p streams), and the simulation hands each request to the");
        Line("other node's `Dht.Answer` (the server's own code) in memory. First contact does what identify does (both sides");
        Line("learn each other's address and add each other to their routing tables). Time is simulated: the reprovide and");
        Line("refresh loops' bodies run on their schedule (a 60 s tick per node, at the second the node started), and each timed");
        Line("lookup is a discrete-event simulation of its own (`SimLookup`): every request completes at its issue time plus the");
        Line("link's latency, in time order, and the lookup's next requests are issued at that completion's time, one round deeper.");
        Line();
        Line("**Links**: round trip 0.4 ms within a zone and 1.5 ms across (3 zones), log-normal jitter (σ 0.3); a first contact adds");
        Line("three round trips and 1 ms (TCP, Noise XX, yamux); 0.1 % packet loss, each loss adding a 200 ms retransmission (TCP");
        Line("does not lose requests, it delays them); a request to a departed node fails after 10 s on an open connection or 5 s");
        Line("on a dial. **Keys**: 5,000 images, each a tag, an index, a manifest, a config and 2-16 layers, the first of them one of 40");
        Line("shared base layers (Zipf 1.2); 8 system images (pause, kube-proxy, CNI, ...) on every node, the rest drawn by Zipf");
        Line("popularity (exponent 1.0) until the node has its keys. **Schedule**: a rolling start over the first minute (each node");
        Line("joins through one earlier node and refreshes); then either (`--settle`) each node provides everything as it joins and");
        Line("one reprovide cycle settles (the early joiners' first records sit where the DHT was small), or each node provides");
        Line("everything a minute after it joined, once the cluster is up; then one cycle measured (15 min: messages, records,");
        Line("lookups from random nodes for keys another node has), then churn (10 % of the nodes leave and as many join per");
        Line("minute), then a still membership while the departed nodes' records expire (or are dropped).");
        Line();
        Line("Command (each size is saved as JSON in `docs/benchmarks/scale/` when it finishes; the report is written from all of them):");
        Line();
        Line("```");
        foreach (var r in results)
        {
            Line(Command(r));
        }

        foreach (var b in baselines)
        {
            Line(Command(b));
        }

        Line("```");
        Line();
        Line("## What was run, and how it is scaled");
        Line();
        Line("A real node advertises about 1,400 keys. The simulation holds every node's state in one process, so where that does");
        Line("not fit in memory (a provider record costs about 340 bytes, a peer-store entry about 730), each node keeps only the keys");
        Line("of a 1/s sample of the key universe (the same keys on every node that has them, so popularity is kept, and always the");
        Line("hot key), and per-key figures (ADD_PROVIDER messages, records held, their bytes) are **also shown scaled linearly to 1,400**");
        Line("keys (each key is provided to its 20 closest on its own, so they scale linearly; lookups, FIND_NODE and routing do not");
        Line("depend on the keys). The scaled figures are marked ×.");
        Line();
        Line("| nodes | key sample | keys per node (run) | scale to 1,400 | distinct keys in the cluster | wall time | peak working set |");
        Line("|---|---|---|---|---|---|---|");
        foreach (var r in results)
        {
            Line(Invariant($"| {r.Nodes:N0} | 1/{r.Sample} | {r.KeysPerNodeMean:N0} | ×{RealKeys / r.KeysPerNodeMean:0.0} | {r.DistinctKeys:N0} | {r.WallSeconds / 60:0} min | {r.PeakWorkingSetMiB / 1024:0.0} GiB |"));
        }

        Line();
        string check = Path.Combine(folder, "check.md");
        if (File.Exists(check))
        {
            Line("### The simulation against the real thing");
            Line();
            Line("`scale --check 50`: the same 50 nodes (identities), joins and keys (a 1/10 sample, 140 per node), once on loopback");
            Line("with real TCP, Noise and yamux and once in memory; then where every record is and what 300 lookups find. The");
            Line("in-memory network gives the same records on the same nodes. On loopback every node is 127.0.0.1, so the host's");
            Line("per-IP limits (32 inbound connections per address, made for one node per IP) refuse the 33rd node: the second row");
            Line("(the 50-node loopback benchmark in dht.md was run before its hosts lifted these limits for loopback).");
            Line();
            Line(File.ReadAllText(check).TrimEnd());
            Line();
        }

        Line("## Lookups");
        Line();
        Line("Lookups from a random node for a key another live node has and the finder lacks, spread over the measured cycle;");
        Line("`FindProvidersAsync(key, 0)` as the product calls it, to its end. \"Found\": a live provider among those it yielded.");
        Line("Rounds: the depth of the request that brought the first live provider (round 0: the finder's own store).");
        Line();
        Line("| nodes | lookups | found a live provider | keys with one holder: found | rounds to first provider p50 / p99 | first provider p50 / p99 | requests per lookup p50 / p99 | requests timed off the pump |");
        Line("|---|---|---|---|---|---|---|---|");
        foreach (var r in results)
        {
            Line(LookupRow(r, r.Steady));
        }

        Line();
        Line($"![lookup rounds]({name}/rounds.png)");
        Line();
        Line($"![time to first provider]({name}/first-provider.png)");
        Line();
        if (baselines.Any(b => b.Variant == "one-lookup-per-region"))
        {
            Line("### Where records go: the placement before this issue");
            Line();
            Line("Until this issue, `PublishAsync` grouped keys into regions sized from the routing table (\"about k peers each\")");
            Line("and sent each key to the 20 closest of the peers that answered **one lookup of the region's first key**. Routing");
            Line("tables hold well under N peers, so regions held more than k nodes, and for keys far from the first one that lookup");
            Line("never met their closest nodes: the records went where no lookup looks. The simulation showed it (same runs, the");
            Line("old placement kept behind an internal option); now the part of a region that holds keys is explored until every");
            Line("peer in it is known (`RegionExplorer`: a lookup toward the region; if its k closest reach outside it, everything");
            Line("inside is known, else both halves are explored), as go's sweeping provider does, and each key goes to its exact");
            Line("k closest. Same wire: FIND_NODE and ADD_PROVIDER. `ProvidePlacementTests` fails on the old placement (1,525 of");
            Line("2,000 keys not on all of their 20 closest, some on none).");
            Line();
            Line("| nodes | placement | found a live provider | keys with one holder: found | FIND_NODE sent per node per cycle |");
            Line("|---|---|---|---|---|");
            foreach (var b in baselines.Where(b => b.Variant == "one-lookup-per-region"))
            {
                var now = results.FirstOrDefault(r => r.Nodes == b.Nodes);
                Line(Invariant($"| {b.Nodes:N0} | one lookup per region (before) | {Share(b.Steady.Count(l => l.FirstLiveRound >= 0), b.Steady.Count)} | {Share(b.Steady.Count(l => l.Holders == 1 && l.FirstLiveRound >= 0), b.Steady.Count(l => l.Holders == 1))} | {b.PerNode["FindNodeSent"].Average():N0} |"));
                if (now is not null)
                {
                    Line(Invariant($"| {now.Nodes:N0} | region explored (now) | {Share(now.Steady.Count(l => l.FirstLiveRound >= 0), now.Steady.Count)} | {Share(now.Steady.Count(l => l.Holders == 1 && l.FirstLiveRound >= 0), now.Steady.Count(l => l.Holders == 1))} | {now.PerNode["FindNodeSent"].Average():N0} |"));
                }
            }

            Line();
        }

        Line("## Re-advertising: messages per node per reprovide cycle (15 min)");
        Line();
        Line(Invariant($"An ADD_PROVIDER message is {addSize} bytes with its length prefix (key, our ID, one address). Probes: the GET_PROVIDERS"));
        Line("a reprovide sends to ask whether a key is provided enough already (the skip rule, below; none where it is off).");
        Line("FIND_NODE counts the sweep's region exploration and the 10-minute refresh; bytes include the measured lookups'");
        Line("GET_PROVIDERS and every answer. Peaks: the most messages one node sent, or received, in one second of the cycle.");
        Line("The 100-node runs (`--settle`) size the sweep's regions from the routing table's count where they predate the network-size");
        Line("estimate (the rule-off run): at 100 nodes that is about 60, regions twice too large, so more exploring lookups.");
        Line();
        Line("| nodes | skip rule | ADD_PROVIDER sent | per key | probes per key | messages per key vs 20 | ADD_PROVIDER received mean / max | × at 1,400 keys: sent / received max | FIND_NODE sent / received mean / max | bytes sent + received | peak msgs/s sent (max node) | peak msgs/s received: mean node / max node |");
        Line("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in WithBefore(results, baselines))
        {
            double scale = RealKeys / r.KeysPerNodeMean;
            var sent = r.PerNode["AddProviderSent"];
            var received = r.PerNode["AddProviderReceived"];
            Line(Invariant($"| {r.Nodes:N0} | {Rule(r)} | {sent.Average():N0} | {sent.Average() / r.KeysPerNodeMean:0.0} | {Of(r, "ProbeSent").Average() / r.KeysPerNodeMean:0.00} | {PerKeyRatio(r):0.00}× | {received.Average():N0} / {received.Max():N0} | {sent.Average() * scale:N0} / {received.Max() * scale:N0} | {r.PerNode["FindNodeSent"].Average():N0} / {r.PerNode["FindNodeReceived"].Average():N0} / {r.PerNode["FindNodeReceived"].Max():N0} | {(r.PerNode["BytesSent"].Average() + r.PerNode["BytesReceived"].Average()) / 1048576:0.0} MiB | {r.PeakSentPerSecond.Max():N0} | {r.PeakReceivedPerSecond.Average():N0} / {r.PeakReceivedPerSecond.Max():N0} |"));
        }

        Line();
        Line($"![messages per node]({name}/messages.png)");
        Line();
        var sweep = results.FirstOrDefault(r => r.Nodes == 1000) ?? results[^1];
        Line(Invariant($"How the sweep spreads over the cycle at {sweep.Nodes:N0} nodes: every node ticks once a minute, at the second it started,"));
        Line("with one fifteenth of its keys (a keyspace slice), so a node's sends come in 15 bursts; a receiving node sees the");
        Line("bursts of every node whose slice reaches it, spread over the seconds of the minute by the nodes' start times.");
        Line();
        Line($"![sweep]({name}/sweep.png)");
        Line();
        // The sweep's start, before and after: two small runs (100 nodes, 207 keys each), kept in sweep/ (see the command).
        string lockstepPath = Path.Combine(folder, "sweep", "lockstep.json"), randomPath = Path.Combine(folder, "sweep", "random.json");
        if (File.Exists(lockstepPath) && File.Exists(randomPath))
        {
            var before = System.Text.Json.JsonSerializer.Deserialize<ScaleResult>(File.ReadAllText(lockstepPath), JsonOptions)!;
            var after = System.Text.Json.JsonSerializer.Deserialize<ScaleResult>(File.ReadAllText(randomPath), JsonOptions)!;
            Line("Before this issue every node began its sweep at slice 0, so nodes started together (a rollout) swept the same");
            Line("slice in the same minute, and a node received a cycle's ADD_PROVIDERs for its part of the keyspace within a few");
            Line("minutes. Now each node begins at a random slice (`Dht.FirstSlice`); the wire is the same. Two runs of 100 nodes");
            Line("with 207 keys each (`scale --nodes 100 --keys-per-node 200 --lookups 1000 --churn-minutes 1`, before and after the");
            Line("change; their JSON is in `scale/sweep/`):");
            Line();
            Line("| sweep start | peak messages received in one second: mean node / busiest node |");
            Line("|---|---|");
            Line(Invariant($"| slice 0 on every node (before) | {before.PeakReceivedPerSecond.Average():N0} / {before.PeakReceivedPerSecond.Max():N0} |"));
            Line(Invariant($"| a random slice (now) | {after.PeakReceivedPerSecond.Average():N0} / {after.PeakReceivedPerSecond.Max():N0} |"));
            Line();
            ScaleCharts.OverCycle(Path.Combine(folder, "sweep-lockstep.png"), "Received per second by the median node, 100 nodes, every sweep starting at slice 0 (before)", "messages/s",
                ("median node", before.MedianNodeReceivedPerSecond.Select(v => (double)v).ToList()));
            Line($"![sweep before]({name}/sweep-lockstep.png)");
            Line();
        }

        Line("## Provider records and memory");
        Line();
        Line("Records held at the end of the measured cycle (a record is a key and one provider; a key's providers are capped at 64");
        Line("per node, the first known kept). Bytes per record: the heap freed when every record expires, divided by the records.");
        Line("Heap per node: the whole simulation's heap growth divided by N (routing table, peer store, provider store, local keys).");
        Line();
        Line("| nodes | skip rule | records held mean / max | × at 1,400 keys: mean / max | bytes per record | × records at 1,400 keys | peer-store entry | heap per node (run) |");
        Line("|---|---|---|---|---|---|---|---|");
        foreach (var r in WithBefore(results, baselines))
        {
            double scale = RealKeys / r.KeysPerNodeMean;
            Line(Invariant($"| {r.Nodes:N0} | {Rule(r)} | {r.RecordsPerNode.Average():N0} / {r.RecordsPerNode.Max():N0} | {r.RecordsPerNode.Average() * scale:N0} / {r.RecordsPerNode.Max() * scale:N0} | {r.BytesPerRecord:0} | {r.RecordsPerNode.Average() * scale * r.BytesPerRecord / 1048576:0.0} MiB mean, {r.RecordsPerNode.Max() * scale * r.BytesPerRecord / 1048576:0.0} MiB max | {r.BytesPerPeerEntry:0} B | {r.HeapPerNodeBytes / 1048576:0.0} MiB |"));
        }

        Line();
        Line($"![records per node]({name}/records.png)");
        Line();
        Line("## Hot keys: a key every node holds");
        Line();
        Line("The pause image's layer. Each of its 20 closest nodes keeps the first 64 providers and refuses the rest; a lookup");
        Line("yields at most 64 providers (`MaxProvidersPerLookup`). Without the skip rule each of them receives an ADD_PROVIDER");
        Line("for it from every node every cycle; with it, from the providers it lists first (and a probe from about 1 in 20 nodes).");
        Line();
        Line("| nodes | skip rule | holders | nodes with records for it | records on one node (max) | ADD_PROVIDER for it received per cycle (max node) | providers a lookup yields | requests of that lookup |");
        Line("|---|---|---|---|---|---|---|---|");
        foreach (var r in results.Concat(baselines.Where(b => b.Variant == "no-skip")).Where(r => r.HotKey is not null).OrderBy(r => r.Nodes).ThenBy(r => r.EnoughProviders))
        {
            var h = r.HotKey!;
            Line(Invariant($"| {r.Nodes:N0} | {Rule(r)} | {h.Holders:N0} | {h.NodesWithRecords} | {h.MaxRecordsOnANode} | {h.MaxAddProviderReceivedPerCycle:N0} | {h.ProvidersReturned} | {h.LookupRequests} |"));
        }

        Line();
        Line("## Churn: departed nodes");
        Line();
        Line("During churn every second a share of the nodes leaves (their state is dropped: a deleted VM) and new nodes join");
        Line("(bootstrap, refresh, provide everything). Every 5 s, two lookups of a departed node's keys; the chart shows how often");
        Line("the departed node is still among the providers yielded, by the time since it left. Lookups during churn are timed");
        Line("like the others; dead providers before the first live one are what a puller tries (and waits for) in vain.");
        Line();
        Line("With the departed-provider check (`DhtOptions.DepartedProviderCheck`, new in this issue), a node holding records of a");
        Line("peer whose last connection closed waits 10 s and sends it one FIND_NODE; if that fails, the peer's records go. The");
        Line("simulation closes the connections of a departed node 15-45 s after it left (yamux: a ping every 30 s, 15 s to answer).");
        Line("Runs without the check are the behaviour before this issue (records live out their 19 minutes).");
        Line();
        Line("| nodes | departed check | churn | lookups during churn: found a live provider | first live provider p50 / p99 | dead providers before the first live one (mean / max) | departed node named: share of lookups | oldest departure still named |");
        Line("|---|---|---|---|---|---|---|---|");
        foreach (var r in results.Concat(baselines.Where(b => b.Variant == "no-departed-check")).OrderBy(r => r.Nodes).ThenBy(r => r.DepartedCheck))
        {
            var c = r.Churn;
            var found = c.Where(l => l.FirstLiveRound >= 0).ToList();
            var named = r.Departed.Where(d => d.Returned).ToList();
            Line(Invariant($"| {r.Nodes:N0} | {(r.DepartedCheck ? "on" : "off (before)")} | 10 %/min for {r.ChurnMinutes} min, then {r.ObserveMinutes} min still | {Share(found.Count, c.Count)} of {c.Count} | {P(found.Select(l => l.FirstLiveMs), 50):0.0} / {P(found.Select(l => l.FirstLiveMs), 99):0.0} ms | {(c.Count == 0 ? 0 : c.Average(l => l.DeadBeforeLive)):0.00} / {(c.Count == 0 ? 0 : c.Max(l => l.DeadBeforeLive))} | {Share(named.Count, r.Departed.Count)} | {(named.Count == 0 ? 0 : named.Max(d => d.AgeSeconds)) / 60.0:0.0} min |"));
        }

        Line();
        Line($"![departed nodes]({name}/departed.png)");
        Line();
        Operator(Line, results, baselines, addSize);
        Goals(Line, results, baselines);
        Line();
        SkipRule(Line, results, baselines, folder);
        Line();
        Line("## Limits of the simulation");
        Line();
        if (results.FirstOrDefault(r => r.Nodes >= 5000) is { } big)
        {
            Line(Invariant($"- **{big.Nodes:N0} nodes ran at a 1/{big.Sample} key sample** ({big.KeysPerNodeMean:N0} keys per node, per-key figures scaled ×{RealKeys / big.KeysPerNodeMean:0}):"));
            Line("  what one process holds and computes in the session's time on 2 cores. Lookups, rounds, FIND_NODE and routing do not");
            Line("  depend on the keys; per-key message and record figures are linear estimates from few keys, and its measured cycle");
            Line(Invariant($"  is the first reprovide{(big.WarmCycles > 0 ? string.Empty : " (no warm cycle: every key is probed in it, and the first provides' records are still alive during its first minutes: the hot key's 64 records on one node are those)")}."));
            Line(Invariant($"  Its churn lasted {big.ChurnMinutes} min with {big.Churn.Count} timed lookups: a p99 is their slowest (a lookup that waited on a departed provider's open connection for the 10 s request timeout)."));
        }
        else
        {
            Line("- **5,000 nodes: not measured yet.** `scale --nodes 5000 --sample-at 5000=25` joined all 5,000 nodes in 30 s of wall time,");
            Line("  but its first provides (every node exploring the regions of its keys) ran at about 1.3 s of wall time per node on");
            Line("  the shared 2-core machine (about 100 minutes for the phase) and the run was stopped. It needs a quieter machine or");
            Line("  cheaper first provides (exploring once per region for all of a node's keys is already the case; the cost is the");
            Line("  answers: every FIND_NODE answer sorted the answering node's routing table; now only its nearest buckets are");
            Line("  sorted, not yet measured at 5,000).");
        }

        var uneven = results.OrderByDescending(r => r.Nodes).First();
        Line(Invariant($"- At {uneven.Nodes:N0} nodes one node answered {uneven.PerNode["FindNodeReceived"].Max():N0} FIND_NODE in the cycle against {uneven.PerNode["FindNodeReceived"].Average():N0} on average: lookups start from"));
        Line("  routing tables, which keep long-lived peers, so the nodes that started first are asked more (not investigated).");
        Line("- Latency and loss are a model (above), not a measurement; the in-memory answers skip serialization, so CPU time per");
        Line("  message is not measured here (docs/benchmarks/dht.md measures it on real streams).");
        Line("- Connections are not limited: the host's 1,024-connection cap and its trimming are not simulated.");
        Line("- A departed node disappears silently (a deleted VM); a drained node closing its connections would be noticed sooner.");
        Line("- Where keys per node are scaled down, per-key figures are scaled up linearly; the 64-providers-per-key cap and the");
        Line("  50,000-records-per-node cap are reached at full scale only, so refusals at those caps are not in the scaled runs.");
        await File.WriteAllTextAsync(Path.Combine(folder, "..", name + ".md"), text.ToString());
        Charts(results, baselines, folder);
        Console.WriteLine(text.ToString());
    }

    private static void Operator(Action<string> line, IReadOnlyList<ScaleResult> results, IReadOnlyList<ScaleResult> baselines, int addSize)
    {
        var r = results.FirstOrDefault(x => x.Nodes == 1000);
        if (r is null)
        {
            return;
        }

        var before = baselines.FirstOrDefault(b => b.Variant == "no-skip" && b.Nodes == 1000);
        var now = Costs(r, addSize);
        var then = before is null ? null : Costs(before, addSize);
        line("## What a 1,000-node cluster costs each node");
        line("");
        line(Invariant($"From the 1,000-node run, per-key figures scaled to 1,400 keys per node (×{RealKeys / r.KeysPerNodeMean:0.0}), per second averaged over the"));
        line("15-minute reprovide cycle, with the skip rule and, beside it, from the run that sends every key every cycle (before");
        line("this issue's skip rule). Lookups come on top, when images are pulled: each costs the requests in the lookup table.");
        line("");
        line("| | per node | every key every cycle (before) |");
        line("|---|---|---|");
        for (int i = 0; i < now.Count; i++)
        {
            line($"| {now[i].Label} | {now[i].Value} | {(then is null ? "–" : then[i].Value)} |");
        }
    }

    /// <summary>The operator's figures of one 1,000-node run.</summary>
    private static List<(string Label, string Value)> Costs(ScaleResult r, int addSize)
    {
        double scale = RealKeys / r.KeysPerNodeMean;
        double cycle = 900;
        double addSent = r.PerNode["AddProviderSent"].Average() * scale;
        double addReceived = r.PerNode["AddProviderReceived"].Average() * scale;
        double addReceivedMax = r.PerNode["AddProviderReceived"].Max() * scale;
        double findSent = r.PerNode["FindNodeSent"].Average();
        double findReceived = r.PerNode["FindNodeReceived"].Average();
        // Per-key traffic (ADD_PROVIDERs, probes and their answers) scales with the keys; the rest (FIND_NODE, lookups) does not.
        // Probes on average over cycles (rare keys are probed once in four; see the skip rule's section).
        var costs = ProbeCosts(r);
        double probeShare = costs.Probes == 0 ? 1 : costs.AverageProbes / costs.Probes;
        double probeSent = Of(r, "ProbeSent").Average() * scale * probeShare;
        double probeReceived = Of(r, "ProbeReceived").Average() * scale * probeShare;
        double probeBytes = Of(r, "ProbeBytes").Average();
        double otherBytes = r.PerNode["BytesSent"].Average() + r.PerNode["BytesReceived"].Average() - ((r.PerNode["AddProviderSent"].Average() + r.PerNode["AddProviderReceived"].Average()) * addSize) - probeBytes;
        double bytes = ((addSent + addReceived) * addSize) + (probeBytes * scale * probeShare) + otherBytes;
        double records = r.RecordsPerNode.Average() * scale;
        double recordsMax = r.RecordsPerNode.Max() * scale;
        var found = r.Steady.Where(l => l.FirstLiveRound >= 0).ToList();
        return
        [
            ("ADD_PROVIDER sent", Invariant($"{addSent:N0} per cycle = {addSent / cycle:0} messages/s ({addSent * addSize / cycle / 1024:0.0} KiB/s)")),
            ("ADD_PROVIDER received", Invariant($"{addReceived:N0} per cycle = {addReceived / cycle:0} messages/s on average, {addReceivedMax / cycle:0} on the busiest node")),
            ("GET_PROVIDERS probes of the skip rule sent / answered (on average over cycles)", Invariant($"{probeSent:N0} / {probeReceived:N0} per cycle = {probeSent / cycle:0.0} / {probeReceived / cycle:0.0} per second")),
            ("FIND_NODE sent / answered (sweep exploration, refresh)", Invariant($"{findSent:N0} / {findReceived:N0} per cycle = {findSent / cycle:0.0} / {findReceived / cycle:0.0} per second")),
            ("DHT bytes sent + received", Invariant($"{bytes / 1048576:0.0} MiB per cycle = {bytes / cycle / 1024:0.0} KiB/s")),
            ("peak messages received in one second (scaled with the keys)", Invariant($"{r.PeakReceivedPerSecond.Average() * scale:N0} messages (mean node), {r.PeakReceivedPerSecond.Max() * scale:N0} (busiest)")),
            ("provider records held", Invariant($"{records:N0} on average, {recordsMax:N0} on the busiest node (cap: 50,000)")),
            ("their memory", Invariant($"{records * r.BytesPerRecord / 1048576:0.0} MiB on average, {recordsMax * r.BytesPerRecord / 1048576:0.0} MiB on the busiest node")),
            ("peer store (every node hears from every other: 1,000 entries)", Invariant($"{1000 * r.BytesPerPeerEntry / 1048576:0.0} MiB")),
            ("a lookup", Invariant($"{P(found.Select(l => (double)l.FirstLiveRound), 50):0} round(s) and {P(found.Select(l => l.FirstLiveMs), 50):0.0} ms to the first provider (p50), {P(r.Steady.Select(l => (double)l.Requests), 50):0} requests")),
        ];
    }

    /// <summary>
    /// The skip rule measured (<see cref="DhtOptions.EnoughProviders"/>) against the runs that send every key every cycle,
    /// beside what the key population let one expect before it was built (regenerated with the run's seed and sample): a
    /// key held by h nodes costs 20·h ADD_PROVIDERs a cycle without the rule, and h probes plus 20·20 ADD_PROVIDERs with it.
    /// </summary>
    private static void SkipRule(Action<string> line, IReadOnlyList<ScaleResult> results, IReadOnlyList<ScaleResult> baselines, string folder)
    {
        line("## Re-advertising less: the skip rule");
        line("");
        line("Per cycle, a key held by h nodes cost 20·h ADD_PROVIDERs, and each of its 20 closest keeps the first 64 providers");
        line("and refuses the rest: at 1,000 nodes most (node, key) pairs are keys held by more than 20 nodes (base layers, system");
        line("images). Now a reprovide first asks one of the key's 20 closest (one GET_PROVIDERS, on one stream per peer for all");
        line("the keys of the tick it asks there) and leaves the key out when the first 20 providers listed are all other nodes");
        line("(`DhtOptions.EnoughProviders`). Holders list providers in the order their records arrived, so the 20 listed first");
        line("keep reproviding (they see themselves) and the others let their records expire; when one of the 20 goes (its records");
        line("expire, or are dropped by the departed check), the next probe of another holder sees fewer than 20 and provides.");
        line("First provides are never skipped. Standard messages only: a stock Spegel node asks the same holders and finds the");
        line("same 20+ providers (go holders list providers in their own order, not by arrival: the nodes listed first there keep");
        line("providing too, so a mixed cluster keeps more providers, never fewer). Measured after one unmeasured cycle");
        line("(`--warm-cycles 1`; 100 nodes: `--settle`), so the skipped keys' first records have expired by the measured lookups.");
        line("");
        line("A key whose probe found fewer than 10 other providers is probed again only every fourth reprovide (`ProbeMemory`):");
        line("most of a node's keys are held by a few nodes, and a probe's answer (up to 20 providers and 20 closer peers, about");
        line("2 KiB) cannot let them be skipped. The measured cycle is the second reprovide, the first after every key was probed");
        line("once, so it probes only the keys that are not rare; \"on average\" counts the rare ones once in four cycles");
        line("(probes p + (1 − p)/4 per key, and their bytes in proportion).");
        line("");
        line("| nodes | skip rule | ADD_PROVIDER per key | probes per key: measured cycle / on average | messages per key vs 20: measured / on average | estimated before building it | DHT bytes per node and cycle: measured / on average | lookups: found a live provider | keys with one holder: found | hot key: providers a lookup yields | hot key: ADD_PROVIDERs received per cycle (max node) |");
        line("|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in WithBefore(results, baselines))
        {
            var found = r.Steady.Count(l => l.FirstLiveRound >= 0);
            var rare = r.Steady.Where(l => l.Holders == 1).ToList();
            var (probes, averageProbes, bytes, averageBytes) = ProbeCosts(r);
            double add = Of(r, "AddProviderSent").Average() / r.KeysPerNodeMean;
            line(Invariant($"| {r.Nodes:N0} | {Rule(r)} | {add:0.0} | {probes:0.00} / {averageProbes:0.00} | {(add + probes) / 20:0.00}× / {(add + averageProbes) / 20:0.00}× | {(r.EnoughProviders > 0 ? Estimate(r).ToString("0.00", CultureInfo.InvariantCulture) + "×" : "–")} | {bytes / 1048576:0.0} / {averageBytes / 1048576:0.0} MiB | {Share(found, r.Steady.Count)} of {r.Steady.Count:N0} | {Share(rare.Count(l => l.FirstLiveRound >= 0), rare.Count)} of {rare.Count} | {r.HotKey?.ProvidersReturned} | {r.HotKey?.MaxAddProviderReceivedPerCycle:N0} |"));
        }

        line("");
        line("DHT bytes do not fall with the messages, they rise a little: a probe's answer is about 2 KiB where the 20");
        line("ADD_PROVIDERs it saves are 20 × 91 bytes, and most keys are probed without being skipped. What falls is what a");
        line("key's holders receive, handle and store: one probe from a random 1/20 of its providers instead of an ADD_PROVIDER");
        line("from each, and 20-odd records of a hot key instead of 64 (records per node: the records table).");
        string everyCycle = Path.Combine(folder, "probe-every-cycle");
        if (Directory.Exists(everyCycle))
        {
            line("");
            line("Before the probe memory (every key probed every cycle; same runs, the code before `ProbeMemory`, JSON in");
            line("`scale/probe-every-cycle/`):");
            line("");
            line("| nodes | probes per key | messages per key vs 20 | DHT bytes per node and cycle |");
            line("|---|---|---|---|");
            foreach (var r in Directory.GetFiles(everyCycle, "n*.json").Select(f => System.Text.Json.JsonSerializer.Deserialize<ScaleResult>(File.ReadAllText(f), JsonOptions)!).OrderBy(r => r.Nodes))
            {
                line(Invariant($"| {r.Nodes:N0} | {Of(r, "ProbeSent").Average() / r.KeysPerNodeMean:0.00} | {PerKeyRatio(r):0.00}× | {(r.PerNode["BytesSent"].Average() + r.PerNode["BytesReceived"].Average()) / 1048576:0.0} MiB |"));
            }
        }
    }

    /// <summary>
    /// Probes per key in the measured cycle and on average over cycles (a key not probed in the measured cycle, the
    /// second reprovide, is a rare one, probed once in <see cref="ProbeMemory.ProbeEvery"/>), and the DHT bytes per node both ways.
    /// </summary>
    private static (double Probes, double AverageProbes, double Bytes, double AverageBytes) ProbeCosts(ScaleResult r)
    {
        double probes = Of(r, "ProbeSent").Average() / r.KeysPerNodeMean;
        double bytes = r.PerNode["BytesSent"].Average() + r.PerNode["BytesReceived"].Average();
        if (r.EnoughProviders == 0 || probes == 0)
        {
            return (probes, probes, bytes, bytes);
        }

        double average = probes + ((1 - Math.Min(probes, 1)) / ProbeMemory.ProbeEvery);
        return (probes, average, bytes, bytes + (Of(r, "ProbeBytes").Average() * ((average / probes) - 1)));
    }

    /// <summary>The skip rule's messages against every key every cycle, from the key population alone.</summary>
    private static double Estimate(ScaleResult r)
    {
        var population = new KeyPopulation(r.Images, 40, 1.0, 13);
        var random = new Random(13);
        var holders = new Dictionary<Multihash, int>();
        for (int i = 0; i < r.Nodes; i++)
        {
            foreach (var key in population.NodeKeys(r.KeysPerNodeTarget, random, r.Sample))
            {
                holders[key] = holders.GetValueOrDefault(key) + 1;
            }
        }

        double pairs = holders.Values.Sum(h => (double)h);
        double skip = holders.Values.Sum(h => h > 20 ? h + (20.0 * 20) : 20.0 * h);
        return skip / (20 * pairs);
    }

    private static void Goals(Action<string> line, IReadOnlyList<ScaleResult> results, IReadOnlyList<ScaleResult> baselines)
    {
        var r = results.FirstOrDefault(x => x.Nodes == 1000);
        if (r is null)
        {
            return;
        }

        var found = r.Steady.Where(l => l.FirstLiveRound >= 0).ToList();
        double share = found.Count / (double)r.Steady.Count;
        double p50 = P(found.Select(l => (double)l.FirstLiveRound), 50), p99 = P(found.Select(l => (double)l.FirstLiveRound), 99);
        var withCheck = results.Where(x => x.DepartedCheck).OrderByDescending(x => x.Nodes).FirstOrDefault();
        var departedRun = r.DepartedCheck || withCheck is null ? r : withCheck;
        var named = departedRun.Departed.Where(d => d.Returned).ToList();
        double oldest = named.Count == 0 ? 0 : named.Max(d => d.AgeSeconds) / 60.0;
        string Met(bool ok) => ok ? "met" : "**not met**";
        line("");
        line("## Issue 13's goals at 1,000 nodes");
        line("");
        line("| goal | measured | |");
        line("|---|---|---|");
        line(Invariant($"| ≥ 99.9 % of lookups find a live provider | {share:P2} of {r.Steady.Count:N0} | {Met(share >= 0.999)} |"));
        line(Invariant($"| first provider in ≤ 3 rounds p50, ≤ 5 p99 | {p50:0} / {p99:0} | {Met(p50 <= 3 && p99 <= 5)} |"));
        var before = baselines.FirstOrDefault(b => b.Variant == "no-skip" && b.Nodes == r.Nodes);
        double beforeShare = before is null ? double.NaN : before.Steady.Count(l => l.FirstLiveRound >= 0) / (double)before.Steady.Count;
        double ratio = (Of(r, "AddProviderSent").Average() / r.KeysPerNodeMean + ProbeCosts(r).AverageProbes) / 20;
        line(Invariant($"| re-advertising ≤ 0.5× the 20-per-key baseline at equal lookup success | {ratio:0.00}× (ADD_PROVIDERs and probes, on average over cycles; {PerKeyRatio(r):0.00}× in the measured one), lookups finding a live provider {share:P2} (every key every cycle: {beforeShare:P2}) | {Met(r.EnoughProviders > 0 && ratio <= 0.5 && share >= beforeShare - 0.001)} |"));
        line(Invariant($"| a departed node stops being returned within 2 minutes | {(departedRun.DepartedCheck ? "with the departed-provider check" : "without a check")}, at {departedRun.Nodes:N0} nodes: still named at most {oldest:0.0} min after it left | {Met(oldest <= 2)}{(departedRun != r ? " (measured at " + departedRun.Nodes.ToString("N0", CultureInfo.InvariantCulture) + " nodes; the 1,000-node run predates the check)" : string.Empty)} |"));
    }

    private static void Charts(IReadOnlyList<ScaleResult> results, IReadOnlyList<ScaleResult> baselines, string folder)
    {
        List<double> Found(ScaleResult r, Func<LookupSample, double> value) => [.. r.Steady.Where(l => l.FirstLiveRound >= 0).Select(value)];
        ScaleCharts.AgainstNodes(Path.Combine(folder, "rounds.png"), "Lookup rounds to the first live provider", "rounds", results,
            ("p50", r => P(Found(r, l => l.FirstLiveRound), 50)), ("p99", r => P(Found(r, l => l.FirstLiveRound), 99)));
        ScaleCharts.AgainstNodes(Path.Combine(folder, "first-provider.png"), "Time to the first live provider (simulated links)", "ms", results,
            ("p50", r => P(Found(r, l => l.FirstLiveMs), 50)), ("p99", r => P(Found(r, l => l.FirstLiveMs), 99)));
        ScaleCharts.AgainstNodes(Path.Combine(folder, "messages.png"), "Messages per node per 15-min cycle (ADD_PROVIDER scaled to 1,400 keys)", "messages", results,
            ("ADD_PROVIDER sent", r => r.PerNode["AddProviderSent"].Average() * RealKeys / r.KeysPerNodeMean),
            ("ADD_PROVIDER received, busiest node", r => r.PerNode["AddProviderReceived"].Max() * RealKeys / r.KeysPerNodeMean),
            ("FIND_NODE sent", r => r.PerNode["FindNodeSent"].Average()),
            ("FIND_NODE received, busiest node", r => r.PerNode["FindNodeReceived"].Max()),
            ("20 per key (baseline)", _ => 20 * RealKeys));
        ScaleCharts.AgainstNodes(Path.Combine(folder, "records.png"), "Provider records held per node (scaled to 1,400 keys)", "records", results,
            ("mean", r => r.RecordsPerNode.Average() * RealKeys / r.KeysPerNodeMean), ("max", r => r.RecordsPerNode.Max() * RealKeys / r.KeysPerNodeMean));
        var sweep = results.FirstOrDefault(r => r.Nodes == 1000) ?? results[^1];
        ScaleCharts.OverCycle(Path.Combine(folder, "sweep.png"), Invariant($"Messages received per second by the median node, {sweep.Nodes:N0} nodes ({sweep.KeysPerNodeMean:N0} keys per node)"), "messages/s",
            ("median node", sweep.MedianNodeReceivedPerSecond.Select(v => (double)v).ToList()));
        ScaleCharts.Departed(Path.Combine(folder, "departed.png"), [.. results.Concat(baselines.Where(b => b.Variant == "no-departed-check")).OrderBy(r => r.Nodes).ThenBy(r => r.DepartedCheck)]);
    }

    /// <summary>The runs with the skip rule and those that send every key every cycle (before it), by size, before first.</summary>
    private static IEnumerable<ScaleResult> WithBefore(IReadOnlyList<ScaleResult> results, IReadOnlyList<ScaleResult> baselines) =>
        results.Concat(baselines.Where(b => b.Variant == "no-skip")).OrderBy(r => r.Nodes).ThenBy(r => r.EnoughProviders);

    private static string Rule(ScaleResult r) => r.EnoughProviders > 0 ? "on" : "off (before)";

    private static string Command(ScaleResult r) =>
        Invariant($"{(r.ServerGc ? "DOTNET_gcServer=1 " : string.Empty)}dotnet run --project bench/Spegel.Bench -c Release -- scale --nodes {r.Nodes}{(r.Variant == "explore" ? string.Empty : " --" + r.Variant)}{(r.Sample != 1 ? $" --sample-at {r.Nodes}={r.Sample}" : string.Empty)}{(r.Settle ? " --settle" : string.Empty)}{(r.WarmCycles > 0 ? $" --warm-cycles {r.WarmCycles}" : string.Empty)}{(r.Steady.Count != 5000 ? $" --lookups {r.Steady.Count}" : string.Empty)}{(r.ChurnMinutes != 5 ? $" --churn-minutes {r.ChurnMinutes}" : string.Empty)}{(r.ObserveMinutes != 17 ? $" --observe-minutes {r.ObserveMinutes}" : string.Empty)}");

    /// <summary>A counter's per-node values (an empty list where the run predates the counter).</summary>
    private static List<double> Of(ScaleResult r, string counter) => r.PerNode.GetValueOrDefault(counter) ?? [.. r.RecordsPerNode.Select(_ => 0.0)];

    /// <summary>Re-advertising messages per key per cycle (ADD_PROVIDERs and the skip rule's probes) against the 20 per key of providing every key.</summary>
    private static double PerKeyRatio(ScaleResult r) =>
        (Of(r, "AddProviderSent").Average() + Of(r, "ProbeSent").Average()) / (20 * r.KeysPerNodeMean);

    private static string LookupRow(ScaleResult r, List<LookupSample> s)
    {
        var found = s.Where(l => l.FirstLiveRound >= 0).ToList();
        var rare = s.Where(l => l.Holders == 1).ToList();
        return Invariant($"| {r.Nodes:N0} | {s.Count:N0} | {Share(found.Count, s.Count)} | {Share(rare.Count(l => l.FirstLiveRound >= 0), rare.Count)} of {rare.Count} | {P(found.Select(l => (double)l.FirstLiveRound), 50):0} / {P(found.Select(l => (double)l.FirstLiveRound), 99):0} | {P(found.Select(l => l.FirstLiveMs), 50):0.0} / {P(found.Select(l => l.FirstLiveMs), 99):0.0} ms | {P(s.Select(l => (double)l.Requests), 50):0} / {P(s.Select(l => (double)l.Requests), 99):0} | {r.OffPump} |");
    }

    /// <summary>One ADD_PROVIDER as <c>Dht</c> sends it, with its length prefix.</summary>
    private static int AddProviderBytes()
    {
        var self = new PeerInfo(PrivateKey.Generate().PeerId, [Multiaddr.FromEndPoint(new IPEndPoint(IPAddress.Parse("10.200.0.1"), 5001))]);
        var message = new Message
        {
            Type = Message.Types.MessageType.AddProvider,
            Key = ByteString.CopyFrom(Cid.ForKey("sha256:0").Hash.Bytes),
            ProviderPeers = { self.ToProto(connected: false) },
        };
        int size = message.CalculateSize();
        return size + (size < 128 ? 1 : 2);
    }

    internal static double P(IEnumerable<double> values, int percentile)
    {
        var sorted = values.Where(v => !double.IsNaN(v)).Order().ToList();
        return sorted.Count == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(percentile / 100.0 * sorted.Count) - 1, 0, sorted.Count - 1)];
    }

    private static string Share(int part, int whole) => whole == 0 ? "–" : (part / (double)whole).ToString("P2", CultureInfo.InvariantCulture);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
