using System.Globalization;

namespace Spegel.Testbed;

/// <summary>
/// A cgroup-v1 memory group with a hard limit, as the kubelet gives a pod (the chart: 128 MiB). A process started in it
/// (<see cref="Wrap"/>) sizes its .NET heap from the limit as it would in the pod, and the kernel's OOM killer acts on
/// the group. Removed on dispose (after its processes ended).
/// </summary>
public sealed class MemoryCgroup : IDisposable
{
    private const string Root = "/sys/fs/cgroup/memory";

    private MemoryCgroup(string path) => Path = path;

    public string Path { get; }

    /// <summary>The most memory the group used (page cache of its files included, as for a pod).</summary>
    public long MaxUsageBytes => ReadLong("memory.max_usage_in_bytes");

    /// <summary>Starts <see cref="MaxUsageBytes"/> again from the current usage (to measure one phase of a run).</summary>
    public void ResetMaxUsage() => File.WriteAllText(System.IO.Path.Combine(Path, "memory.max_usage_in_bytes"), "0");

    /// <summary>How often the group hit its limit (reclaim happened; not necessarily an OOM kill).</summary>
    public long FailCount => ReadLong("memory.failcnt");

    /// <summary>Processes of the group the kernel's OOM killer killed.</summary>
    public long OomKills
    {
        get
        {
            foreach (string line in File.ReadAllLines(System.IO.Path.Combine(Path, "memory.oom_control")))
            {
                if (line.StartsWith("oom_kill ", StringComparison.Ordinal))
                {
                    return long.Parse(line["oom_kill ".Length..], CultureInfo.InvariantCulture);
                }
            }

            return 0;
        }
    }

    /// <summary>True when this machine has the cgroup-v1 memory controller (TESTBED: it does).</summary>
    public static bool Available => File.Exists(System.IO.Path.Combine(Root, "memory.limit_in_bytes"));

    public static MemoryCgroup Create(string name, long limitBytes)
    {
        if (!Available)
        {
            throw new InvalidOperationException($"no cgroup-v1 memory controller at {Root}: spegel runs under the chart's memory limit here (the attack suite; the suite benchmark unless --memory-limit-mib 0) and needs it");
        }

        string path = System.IO.Path.Combine(Root, "spegel-test-" + name);
        if (Directory.Exists(path))
        {
            Directory.Delete(path); // a leftover of a killed run (empty: its processes are gone)
        }

        Directory.CreateDirectory(path);
        var group = new MemoryCgroup(path);
        File.WriteAllText(System.IO.Path.Combine(path, "memory.limit_in_bytes"), limitBytes.ToString(CultureInfo.InvariantCulture));
        return group;
    }

    /// <summary>A command line that joins the group first, then becomes <paramref name="command"/> (exec: same PID).</summary>
    public IEnumerable<string> Wrap(IEnumerable<string> command) =>
        ["sh", "-c", $"echo $$ > '{System.IO.Path.Combine(Path, "cgroup.procs")}' && exec \"$@\"", "sh", .. command];

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path);
        }
        catch (IOException)
        {
            // Still has processes (a test failed to stop one): left for the next run to remove.
        }
    }

    private long ReadLong(string file) => long.Parse(File.ReadAllText(System.IO.Path.Combine(Path, file)).Trim(), CultureInfo.InvariantCulture);
}
