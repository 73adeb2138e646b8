using System.Diagnostics;
using System.Net.Http.Headers;

namespace Spegel.IntegrationTests.Attacks;

/// <summary>
/// A legitimate client (containerd's kind) while an attack runs: a whole-blob GET every 20 ms with the cluster's Basic
/// credentials, each timed; the attack suite judges the node by these: p99 ≤ 50 ms, and never a 5xx.
/// </summary>
public sealed class LegitProbe : IAsyncDisposable
{
    private readonly HttpClient _http;
    private readonly string _path;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(TimeSpan Latency, int Status, DateTimeOffset Start)> _results = [];
    private readonly Task _loop;

    private LegitProbe(Uri baseAddress, string path)
    {
        _http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        _http.DefaultRequestHeaders.Authorization = AuthenticationHeaderValue.Parse(AttackNode.AuthorizationValue);
        _path = path;
        _loop = Task.Run(LoopAsync);
    }

    public static LegitProbe Start(AttackNode node) => new(node.BaseAddress, node.BlobPath(node.Layers.Small));

    /// <summary>Stops and returns what the client saw: requests, the p99 latency, and how many were 5xx or failed.</summary>
    public async Task<ProbeResult> StopAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        lock (_results)
        {
            var latencies = _results.Select(r => r.Latency).Order().ToList();
            var p99 = latencies.Count == 0 ? TimeSpan.Zero : latencies[Math.Min(latencies.Count - 1, (int)Math.Ceiling(latencies.Count * 0.99) - 1)];
            var slow = _results.Where(r => r.Latency > TimeSpan.FromMilliseconds(50)).Select(r => $"{r.Start:HH:mm:ss.fff} {r.Latency.TotalMilliseconds:0} ms").ToList();
            return new ProbeResult(_results.Count, p99, _results.Count(r => r.Status >= 500 || r.Status == 0), latencies.LastOrDefault(), slow);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await StopAsync();
        }

        _http.Dispose();
        _stop.Dispose();
    }

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var start = DateTimeOffset.UtcNow;
            var clock = Stopwatch.StartNew();
            int status;
            try
            {
                using var response = await _http.GetAsync(_path, CancellationToken.None);
                await response.Content.ReadAsByteArrayAsync(CancellationToken.None);
                status = (int)response.StatusCode;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or IOException)
            {
                status = 0;
            }

            lock (_results)
            {
                _results.Add((clock.Elapsed, status, start));
            }

            try
            {
                await Task.Delay(20, _stop.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }
}

/// <summary>What the legitimate client saw during an attack.</summary>
/// <param name="Slow">When each request over 50 ms started (UTC) and how long it took, to line up with the node's log.</param>
public sealed record ProbeResult(int Requests, TimeSpan P99, int Failures, TimeSpan Max, IReadOnlyList<string> Slow)
{
    public override string ToString() =>
        $"{Requests} requests, p99 {P99.TotalMilliseconds:0.0} ms, max {Max.TotalMilliseconds:0.0} ms, {Failures} 5xx or failed" + (Slow.Count > 0 ? $"; slow: {string.Join(", ", Slow)}" : string.Empty);
}
