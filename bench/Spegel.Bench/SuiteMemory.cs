using System.Text;
using Spegel.Testbed;

namespace Spegel.Bench;

/// <summary>
/// Each node's spegel memory through the suite (issue 12): resident memory idle after start, then the kernel's peaks
/// (VmHWM, and the memory group's max_usage_in_bytes) per phase, the group's OOM kills and failcnt. Phases: the start
/// (up to the idle reading), the baseline pulls (containerd straight to the upstream: spegel only advertises) and the
/// pulls through spegel with the throughput and lookup extras. Both peaks are reset between phases.
/// </summary>
internal sealed class SuiteMemory
{
    private readonly Dictionary<string, NodeFigures> _nodes = new(StringComparer.Ordinal);

    public SuiteMemory(long limitBytes) => LimitBytes = limitBytes;

    public long LimitBytes { get; }

    /// <summary>Reads each node's idle RSS and its start-up peaks, then resets the peaks for the next phase.</summary>
    public void Idle(Cluster cluster)
    {
        foreach (var node in cluster.Nodes)
        {
            var figures = Figures(node.Name);
            if (node.Spegel is { } spegel)
            {
                figures.IdleRss = Measure.ResidentBytes(spegel.Daemon.Pid);
            }
        }

        EndPhase(cluster, "start");
    }

    /// <summary>
    /// Samples each node's RSS parts (anonymous, file, shmem) and keeps each one's maximum in the current phase: VmHWM
    /// has no split, and the split says where the memory goes.
    /// </summary>
    public void Sample(Cluster cluster)
    {
        foreach (var node in cluster.Nodes)
        {
            if (node.Spegel is { Daemon.HasExited: false } spegel)
            {
                var figures = Figures(node.Name);
                int pid = spegel.Daemon.Pid;
                figures.Anon = Math.Max(figures.Anon, Measure.StatusBytes(pid, "RssAnon"));
                figures.File = Math.Max(figures.File, Measure.StatusBytes(pid, "RssFile"));
                figures.Shmem = Math.Max(figures.Shmem, Measure.StatusBytes(pid, "RssShmem"));
            }
        }
    }

    /// <summary>Records each node's peaks of the phase that ends, and starts them again.</summary>
    public void EndPhase(Cluster cluster, string phase)
    {
        foreach (var node in cluster.Nodes)
        {
            var figures = _nodes[node.Name];
            bool alive = node.Spegel is { } spegel && !spegel.Daemon.HasExited;
            figures.Alive &= alive;
            long rss = alive ? Measure.PeakResidentBytes(node.Spegel!.Daemon.Pid) : -1;
            long group = node.Cgroup?.MaxUsageBytes ?? -1;
            figures.Phases[phase] = (rss, group);
            figures.Parts[phase] = (figures.Anon, figures.File, figures.Shmem);
            (figures.Anon, figures.File, figures.Shmem) = (0, 0, 0);
            figures.OomKills = node.Cgroup?.OomKills ?? 0;
            figures.FailCount = node.Cgroup?.FailCount ?? 0;
            if (alive)
            {
                Measure.ResetPeakResident(node.Spegel!.Daemon.Pid);
            }

            node.Cgroup?.ResetMaxUsage();
        }
    }

    /// <summary>Checks now whether a node's spegel was OOM-killed or died (for a run that failed part-way).</summary>
    public bool AnyKillNow(Cluster cluster) =>
        cluster.Nodes.Any(n => n.Spegel is null || n.Spegel.Daemon.HasExited || (n.Cgroup?.OomKills ?? 0) > 0);

    /// <summary>True when a node's spegel was OOM-killed or died during the run.</summary>
    public bool AnyKilled => _nodes.Values.Any(n => n.OomKills > 0 || !n.Alive);

    /// <summary>The Markdown section; an OOM kill or a dead spegel is the first thing it says.</summary>
    public string Render()
    {
        var sb = new StringBuilder();
        sb.Append("## Memory of each node's spegel\n\n");
        foreach (var (node, f) in _nodes.OrderBy(n => n.Key, StringComparer.Ordinal).Where(n => n.Value.OomKills > 0 || !n.Value.Alive))
        {
            sb.Append($"**FAILED: {node}'s spegel {(f.OomKills > 0 ? $"was OOM-killed {f.OomKills} time(s) by its memory group's limit" : "died during the run")}** (the run exits non-zero).\n\n");
        }

        sb.Append(LimitBytes > 0
            ? $"Each node's spegel ran in its own cgroup-v1 memory group limited to {Measure.MiB(LimitBytes)} (the chart's pod limit; .NET sizes its heap from it). "
            : "No memory limit (`--memory-limit-mib 0`). ");
        sb.Append("Idle: VmRSS 3 s after the cluster is ready. Peaks: VmHWM (the kernel's resident high-water mark) and the group's `memory.max_usage_in_bytes`, ");
        sb.Append("which also counts page cache charged to the group (files spegel read first) and so can exceed RSS; both reset between phases. ");
        sb.Append("Phases: start (launch to idle), baseline (containerd pulls straight from the upstream: spegel advertises, serves nothing), ");
        sb.Append("spegel (every pull through the mirror, then the throughput and lookup runs). failcnt: times the group hit its limit and the kernel reclaimed (not a kill).\n\n");
        sb.Append("| node | idle RSS | peak RSS: start | baseline | spegel | group peak: start | baseline | spegel | OOM kills | failcnt |\n|---|---|---|---|---|---|---|---|---|---|\n");
        foreach (var (node, f) in _nodes.OrderBy(n => n.Key, StringComparer.Ordinal))
        {
            sb.Append($"| {node} | {Bytes(f.IdleRss)} | {Bytes(f.Rss("start"))} | {Bytes(f.Rss("baseline"))} | {Bytes(Math.Max(f.Rss("spegel"), f.Rss("spegel (aborted)")))} ");
            sb.Append($"| {Bytes(f.Group("start"))} | {Bytes(f.Group("baseline"))} | {Bytes(Math.Max(f.Group("spegel"), f.Group("spegel (aborted)")))} | {(f.OomKills > 0 ? $"**{f.OomKills}**" : "0")} | {f.FailCount} |\n");
        }

        sb.Append("\nWhere the resident memory is, per phase (the largest of each part sampled every 200 ms; the parts peak at different moments):\n\n");
        sb.Append("| node | phase | anon (heap, stacks, native) | file (runtime and assemblies mapped; shared, reclaimable) | shmem (JIT code, double-mapped) |\n|---|---|---|---|---|\n");
        foreach (var (node, f) in _nodes.OrderBy(n => n.Key, StringComparer.Ordinal))
        {
            foreach (var (phase, parts) in f.Parts)
            {
                sb.Append($"| {node} | {phase} | {Bytes(parts.Anon)} | {Bytes(parts.File)} | {Bytes(parts.Shmem)} |\n");
            }
        }

        long worst = _nodes.Values.Max(f => f.Phases.Values.Max(p => p.Rss));
        sb.Append($"\nHighest peak RSS of any node over the whole run: {Bytes(worst)}");
        sb.Append(LimitBytes > 0 ? $" (goal: ≤ {Measure.MiB(LimitBytes)}, zero OOM kills: {(worst <= LimitBytes && !AnyKilled ? "met" : "**not met**")}).\n\n" : ".\n\n");
        return sb.ToString();
    }

    private NodeFigures Figures(string node) => _nodes.TryGetValue(node, out var figures) ? figures : _nodes[node] = new NodeFigures();

    private static string Bytes(long bytes) => bytes < 0 ? "–" : Measure.MiB(bytes);

    private sealed class NodeFigures
    {
        public long IdleRss { get; set; } = -1;

        public bool Alive { get; set; } = true;

        public long OomKills { get; set; }

        public long FailCount { get; set; }

        public Dictionary<string, (long Rss, long Group)> Phases { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, (long Anon, long File, long Shmem)> Parts { get; } = new(StringComparer.Ordinal);

        public long Anon { get; set; }

        public long File { get; set; }

        public long Shmem { get; set; }

        public long Rss(string phase) => Phases.TryGetValue(phase, out var p) ? p.Rss : -1;

        public long Group(string phase) => Phases.TryGetValue(phase, out var p) ? p.Group : -1;
    }
}
