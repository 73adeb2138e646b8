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
    public static long ResidentBytes(int pid) => StatusBytes(pid, "VmRSS");

    /// <summary>
    /// The process's peak resident memory in bytes (VmHWM: the kernel's high-water mark, exact where sampling VmRSS
    /// can miss a short spike), or -1. <see cref="ResetPeakResident"/> starts it again.
    /// </summary>
    public static long PeakResidentBytes(int pid) => StatusBytes(pid, "VmHWM");

    /// <summary>The process's thread count (Threads in /proc/PID/status), or -1.</summary>
    public static long ThreadCount(int pid) => ReadStatus(pid) is { } status ? StatusField(status, "Threads") ?? -1 : -1;

    /// <summary>Resets VmHWM to the current RSS (writes 5 to /proc/PID/clear_refs), to measure one phase of a run.</summary>
    public static void ResetPeakResident(int pid)
    {
        try
        {
            File.WriteAllText($"/proc/{pid}/clear_refs", "5");
        }
        catch (IOException)
        {
            // The process ended: its peak is reported as missing (-1) by the next read.
        }
    }

    /// <summary>
    /// The value of <paramref name="field"/> in the text of /proc/PID/status (<c>VmRSS:\t  81234 kB</c>): kB
    /// converted to bytes, a bare number as it is; null when the field is absent or not a number.
    /// </summary>
    public static long? StatusField(string status, string field)
    {
        foreach (string line in status.Split('\n'))
        {
            if (line.Length <= field.Length || !line.StartsWith(field, StringComparison.Ordinal) || line[field.Length] != ':')
            {
                continue;
            }

            string[] parts = line[(field.Length + 1)..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length is 0 or > 2 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out long value))
            {
                return null;
            }

            return parts.Length == 1 ? value : parts[1] == "kB" && value <= long.MaxValue / 1024 ? value * 1024 : null;
        }

        return null;
    }

    /// <summary>A byte field of /proc/PID/status (<c>RssAnon</c>, <c>RssFile</c>, <c>RssShmem</c>, …), or -1.</summary>
    public static long StatusBytes(int pid, string field) => ReadStatus(pid) is { } status ? StatusField(status, field) ?? -1 : -1;

    private static string? ReadStatus(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/status");
        }
        catch (IOException)
        {
            return null; // the process ended
        }
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
