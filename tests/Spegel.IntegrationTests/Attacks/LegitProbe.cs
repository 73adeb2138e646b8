using System.Diagnostics;
using System.Globalization;

namespace Spegel.IntegrationTests.Attacks;

/// <summary>
/// A legitimate client (containerd's kind) while an attack runs: a whole-blob GET every 20 ms with the cluster's Basic
/// credentials, each timed; the attack suite judges the node by these: p99 ≤ 50 ms, and never a 5xx. The client is
/// its own process (curl, one keep-alive connection, <c>--rate 50/s</c>, each transfer timed by curl itself and written to its stderr), as
/// containerd is: timed inside the test process, it also measured the attacker's work there (300,000 messages
/// encoded and encrypted next to it stalled it for up to 0.5 s while the node's own histogram showed every request
/// under 50 ms).
/// </summary>
public sealed class LegitProbe : IAsyncDisposable
{
    /// <summary>Requests queued for curl: 120 s at 50 per second, more than any attack runs; the rest are never sent.</summary>
    private const int MaxRequests = 6000;

    private readonly Process _curl;
    private readonly string _config;
    private readonly List<(double Seconds, int Status, DateTimeOffset Seen)> _results = [];
    private readonly Task _reading;
    private bool _stopped;

    private LegitProbe(Uri url, string authorization)
    {
        _config = Path.Combine(Path.GetTempPath(), $"legit-probe-{Guid.NewGuid():N}.curlrc");
        using (var writer = new StreamWriter(_config))
        {
            writer.WriteLine($"header = \"Authorization: {authorization}\"");
            for (int i = 0; i < MaxRequests; i++)
            {
                writer.WriteLine($"url = \"{url}\"");
                writer.WriteLine("output = \"/dev/null\"");
            }
        }

        var start = new ProcessStartInfo("curl")
        {
            RedirectStandardError = true, // the timings: stderr is unbuffered, so none is lost when curl is killed
            UseShellExecute = false,
        };
        foreach (string argument in new[] { "--silent", "--rate", "50/s", "--max-time", "30", "--write-out", "%{stderr}%{http_code} %{time_total}\\n", "--config", _config })
        {
            start.ArgumentList.Add(argument);
        }

        _curl = Process.Start(start) ?? throw new InvalidOperationException("curl did not start");
        _reading = Task.Run(ReadAsync);
    }

    public static LegitProbe Start(AttackNode node) => new(new Uri(node.BaseAddress, node.BlobPath(node.Layers.Small)), AttackNode.AuthorizationValue);

    /// <summary>Stops and returns what the client saw: requests, the p99 latency, and how many were 5xx or failed.</summary>
    public async Task<ProbeResult> StopAsync()
    {
        if (!_stopped)
        {
            _stopped = true;
            if (!_curl.HasExited)
            {
                _curl.Kill();
            }

            await _curl.WaitForExitAsync();
            await _reading;
        }

        lock (_results)
        {
            var latencies = _results.Select(r => TimeSpan.FromSeconds(r.Seconds)).Order().ToList();
            var p99 = latencies.Count == 0 ? TimeSpan.Zero : latencies[Math.Min(latencies.Count - 1, (int)Math.Ceiling(latencies.Count * 0.99) - 1)];
            var slow = _results.Where(r => r.Seconds > 0.05).Select(r => $"{r.Seen:HH:mm:ss.fff} {r.Seconds * 1000:0} ms").ToList();
            return new ProbeResult(_results.Count, p99, _results.Count(r => r.Status >= 500 || r.Status == 0), latencies.LastOrDefault(), slow);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _curl.Dispose();
        File.Delete(_config);
    }

    private async Task ReadAsync()
    {
        while (await _curl.StandardError.ReadLineAsync() is { } line)
        {
            string[] parts = line.Split(' ');
            if (parts.Length == 2 && int.TryParse(parts[0], CultureInfo.InvariantCulture, out int status)
                && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds))
            {
                lock (_results)
                {
                    _results.Add((seconds, status, DateTimeOffset.UtcNow)); // status 000: curl got no answer
                }
            }
        }
    }
}

/// <summary>What the legitimate client saw during an attack.</summary>
/// <param name="Slow">When each request over 50 ms was seen to end (UTC) and how long it took, to line up with the node's log.</param>
public sealed record ProbeResult(int Requests, TimeSpan P99, int Failures, TimeSpan Max, IReadOnlyList<string> Slow)
{
    public override string ToString() =>
        $"{Requests} requests, p99 {P99.TotalMilliseconds:0.0} ms, max {Max.TotalMilliseconds:0.0} ms, {Failures} 5xx or failed" + (Slow.Count > 0 ? $"; slow: {string.Join(", ", Slow)}" : string.Empty);
}
