namespace Spegel.Timing;

/// <summary>
/// Times a peer transfer by rate, not by wall clock (Kestrel's MinResponseDataRate idea): over every grace period
/// spent waiting on the peer, it must deliver at least <c>minRate × grace</c> bytes, or the transfer is cancelled as
/// stalled. Time spent writing to our client is not counted, so a slow client never gets a peer blamed; nor is time our
/// own threads were starved (see <see cref="RateMonitor"/>). A 1 KB config and a 10 GB layer get fair deadlines; a peer
/// that sends nothing, or trickles, is replaced within about one grace period.
/// </summary>
internal sealed class TransferMonitor : IDisposable
{
    private readonly CancellationTokenSource _stalled;
    private readonly ITimer _timer;
    private readonly TimeProvider _time;
    private readonly long _started;
    private readonly RateMonitor _rate;
    private readonly object _gate = new();

    public TransferMonitor(long minRate, TimeSpan grace, TimeProvider time, CancellationToken outer)
    {
        _time = time;
        _started = time.GetTimestamp();
        var tick = TimeSpan.FromTicks(Math.Max(grace.Ticks / 8, TimeSpan.FromMilliseconds(10).Ticks));
        _rate = new RateMonitor((long)(minRate * grace.TotalSeconds), grace, tick);
        _stalled = CancellationTokenSource.CreateLinkedTokenSource(outer);
        _timer = time.CreateTimer(_ => Check(), null, tick, tick);
    }

    /// <summary>Cancelled when the transfer stalls (or the outer token is cancelled).</summary>
    public CancellationToken Token => _stalled.Token;

    public bool Stalled
    {
        get
        {
            lock (_gate)
            {
                return _rate.Stalled;
            }
        }
    }

    public void BeginRead()
    {
        lock (_gate)
        {
            _rate.BeginRead(Now());
        }
    }

    public void EndRead(int bytes)
    {
        bool stalled;
        lock (_gate)
        {
            stalled = _rate.EndRead(Now(), bytes);
        }

        if (stalled)
        {
            Cancel();
        }
    }

    public void Dispose()
    {
        _timer.Dispose();
        _stalled.Dispose();
    }

    private TimeSpan Now() => _time.GetElapsedTime(_started);

    private void Check()
    {
        bool stalled;
        lock (_gate)
        {
            stalled = _rate.Tick(Now());
        }

        if (stalled)
        {
            Cancel();
        }
    }

    private void Cancel()
    {
        try
        {
            _stalled.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }
}
