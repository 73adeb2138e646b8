using System.Diagnostics;
using System.Globalization;

namespace Spegel.Testbed;

/// <summary>Small measuring helpers for benchmarks: curl downloads, process memory, medians.</summary>
public static class Measure
{
    /// <summary>Downloads <paramref name="url"/> with curl to /dev/null; returns bytes per second.</summary>
    public static async Task<double> CurlThroughputAsync(string url, string? netns = null)
    {
        IEnumerable<string> curl = ["curl", "-sS", "-f", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", url];
        var (file, args) = netns is null ? ("curl", curl.Skip(1)) : (Tools.Ip, (IEnumerable<string>)["netns", "exec", netns, .. curl]);
        var result = (await ProcessRunner.RunAsync(file, args, TimeSpan.FromMinutes(5)).ConfigureAwait(false)).EnsureSuccess($"curl {url}");
        string[] parts = result.StandardOutput.Trim().Split(' ');
        double bytes = double.Parse(parts[0], CultureInfo.InvariantCulture);
        double seconds = double.Parse(parts[1], CultureInfo.InvariantCulture);
        return bytes / seconds;
    }

    /// <summary>Runs <paramref name="parallel"/> downloads at once; returns the aggregate bytes per second.</summary>
    public static async Task<double> ParallelThroughputAsync(string url, int parallel, long bytesEach)
    {
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, parallel).Select(_ => CurlThroughputAsync(url))).ConfigureAwait(false);
        return parallel * bytesEach / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Resident memory of a process in bytes (VmRSS), or -1.</summary>
    public static long ResidentBytes(int pid)
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
        }

        return -1;
    }

    /// <summary>Samples RSS every 50 ms while <paramref name="work"/> runs; returns the peak.</summary>
    public static async Task<long> PeakResidentBytesDuringAsync(int pid, Func<Task> work)
    {
        long peak = ResidentBytes(pid);
        using var stop = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                peak = Math.Max(peak, ResidentBytes(pid));
                try
                {
                    await Task.Delay(50, stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
            }
        });
        try
        {
            await work().ConfigureAwait(false);
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await sampler.ConfigureAwait(false);
        }

        return peak;
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? double.NaN : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    public static string MiBps(double bytesPerSecond) => (bytesPerSecond / 1024 / 1024).ToString("0", CultureInfo.InvariantCulture) + " MiB/s";

    public static string MiB(long bytes) => (bytes / 1024.0 / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " MiB";
}
