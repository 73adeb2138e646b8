using System.Diagnostics;
using Spegel.Testbed;

namespace Spegel.Bench;

/// <summary>
/// A node's own ingest limit (issue 12, goal 4): the same images pulled by n1's containerd from a registry in n1's own
/// namespace, on loopback (no network hop, no shaping): containerd's download, write and unpack with nothing between.
/// A rolling update through spegel cannot be faster than this; its ratio to this is what spegel and the network cost.
/// </summary>
internal static class SuiteIngest
{
    /// <summary>Median seconds per image name over <paramref name="runs"/> pulls, n1's content cleared before each.</summary>
    public static async Task<Dictionary<string, double>> MeasureAsync(Cluster cluster, OciLayout layout, IReadOnlyList<(string Name, TestImage Image)> images, string root, int runs, Action<string> progress)
    {
        var n1 = cluster.Nodes[0];
        await using var local = await RegistryNode.StartAsync(Path.Combine(root, "ingest-registry"), "127.0.0.1", Network.FreePort(), n1.Netns);
        foreach (var (_, image) in images)
        {
            await TestImages.PushAsync(layout, image, local.Address, n1.Netns);
        }

        // The upstream's name now leads to the local registry, for n1 only: the references pulled stay the same.
        Directory.Delete(n1.Containerd.HostsDir, recursive: true);
        n1.Containerd.WriteDirectHosts(cluster.UpstreamAddress, server: local.Address);
        var medians = new Dictionary<string, double>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, image) in images)
            {
                progress($"ingest limit: n1 pulls {name} from a registry in its own namespace, {runs} times");
                var seconds = new List<double>();
                for (int i = 0; i < runs; i++)
                {
                    await n1.Containerd.ClearAsync();
                    var clock = Stopwatch.StartNew();
                    (await n1.PullAsync(cluster.Reference(image), TimeSpan.FromMinutes(20))).EnsureSuccess($"n1 pulling {name} from its own namespace");
                    seconds.Add(clock.Elapsed.TotalSeconds);
                }

                medians[name] = Measure.Median(seconds);
            }
        }
        finally
        {
            Directory.Delete(n1.Containerd.HostsDir, recursive: true);
            await cluster.ConfigureMirrorAsync(n1);
        }

        return medians;
    }
}
