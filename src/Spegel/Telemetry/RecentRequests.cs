namespace Spegel.Telemetry;

/// <summary>One answered registry request, as the debug page lists it.</summary>
internal sealed record RecentRequest(DateTimeOffset At, string Method, string Handler, string Path, int Status, string Source, long Bytes, TimeSpan Duration, string Client)
{
    public string Reference => Path[(Path.LastIndexOf('/') + 1)..];

    /// <summary>MiB/s for transfers over 1 MiB, else null.</summary>
    public double? MiBPerSecond => Bytes > 1024 * 1024 && Duration > TimeSpan.Zero ? Bytes / Duration.TotalSeconds / 1024 / 1024 : null;
}

/// <summary>The last requests (a bounded ring), for "recent pulls" on the debug page.</summary>
internal sealed class RecentRequests(int capacity = 200)
{
    private readonly Queue<RecentRequest> _items = new();

    public void Add(RecentRequest request)
    {
        if (request.Handler is not ("manifest" or "blob"))
        {
            return;
        }

        lock (_items)
        {
            _items.Enqueue(request);
            while (_items.Count > capacity)
            {
                _items.Dequeue();
            }
        }
    }

    public IReadOnlyList<RecentRequest> Snapshot()
    {
        lock (_items)
        {
            return _items.Reverse().ToList();
        }
    }
}
