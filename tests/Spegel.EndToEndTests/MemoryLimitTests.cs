using System.Globalization;
using Spegel.Testbed;

namespace Spegel.EndToEndTests;

/// <summary>
/// Issue 12: the cluster's <see cref="ClusterOptions.MemoryLimitBytes"/> runs a node's spegel, inside its network
/// namespace (whose <c>ip netns exec</c> mounts its own /sys: the group is joined before), in its own cgroup-v1 memory
/// group with that limit, as the chart's pod limit; the group is charged (its max usage is above 0).
/// </summary>
public sealed class MemoryLimitTests
{
    [Fact]
    public async Task EachNodesSpegelRunsInItsOwnLimitedGroupAndTheRuntimeSeesTheLimit()
    {
        const long limit = 128L * 1024 * 1024;
        string root = Directory.CreateTempSubdirectory("sp-memlimit-").FullName;
        try
        {
            await using var cluster = await Cluster.StartAsync(root, 2, new ClusterOptions { MemoryLimitBytes = limit });
            var groups = cluster.Nodes.Select(n => n.Cgroup!.Path).ToList();
            Assert.Equal(2, groups.Distinct().Count());
            foreach (var node in cluster.Nodes)
            {
                int pid = node.Spegel!.Daemon.Pid;
                string procs = await File.ReadAllTextAsync(Path.Combine(node.Cgroup!.Path, "cgroup.procs"));
                Assert.Contains(pid.ToString(CultureInfo.InvariantCulture), procs.Split('\n'));
                Assert.Equal(limit, long.Parse((await File.ReadAllTextAsync(Path.Combine(node.Cgroup.Path, "memory.limit_in_bytes"))).Trim(), CultureInfo.InvariantCulture));
                Assert.True(node.Cgroup.MaxUsageBytes > 0);
                Assert.Equal(0, node.Cgroup.OomKills);
                Assert.True(Measure.PeakResidentBytes(pid) > 0);
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
