namespace Spegel.Mirroring;

/// <summary>
/// Times a peer transfer by rate, not by wall clock (Kestrel's MinResponseDataRate idea): over every grace period
/// spent waiting on the peer, it must deliver at least <c>minRate × grace</c> bytes, or the transfer is cancelled as
/// stalled. Time spent writing to our client is not counted, so a slow client never gets a peer blamed. A 1 KB
/// config and a 10 GB layer get fair deadlines; a peer that sends nothing, or trickles, is replaced within about one
/// grace period.
/// </summary>
internal sealed class TransferMonitor : IDisposable
{
    private readonly CancellationTokenSource _stalled;
    private readonly ITimer _timer;
    private readonly TimeProvider _time;
    private readonly long _minBytesPerWindow;
    private readonly TimeSpan _grace;
    private readonly object _gate = new();
    private TimeSpan _windowTime;
    private long _windowBytes;
    private long _readStarted;
    private bool _reading;

    public TransferMonitor(long minRate, TimeSpan grace, TimeProvider time, CancellationToken outer)
    {
        _time = time;
        _grace = grace;
        _minBytesPerWindow = (long)(minRate * grace.TotalSeconds);
        _stalled = CancellationTokenSource.CreateLinkedTokenSource(outer);
        var tick = TimeSpan.FromTicks(Math.Max(grace.Ticks / 8, TimeSpan.FromMilliseconds(10).Ticks));
        _timer = time.CreateTimer(_ => Check(), null, tick, tick);
    }

    /// <summary>Cancelled when the transfer stalls (or the outer token is cancelled).</summary>
    public CancellationToken Token => _stalled.Token;

    public bool Stalled { get; private set; }

    public void BeginRead()
    {
        lock (_gate)
        {
            _readStarted = _time.GetTimestamp();
            _reading = true;
        }
    }

    public void EndRead(int bytes)
    {
        lock (_gate)
        {
            _reading = false;
            _windowTime += _time.GetElapsedTime(_readStarted);
            _windowBytes += bytes;
            Judge(_windowTime);
        }
    }

    private void Check()
    {
        lock (_gate)
        {
            if (_reading)
            {
                Judge(_windowTime + _time.GetElapsedTime(_readStarted));
            }
        }
    }

    /// <summary>At the end of a window: too few bytes is a stall; otherwise a new window starts.</summary>
    private void Judge(TimeSpan elapsed)
    {
        if (elapsed < _grace || Stalled)
        {
            return;
        }

        if (_windowBytes < _minBytesPerWindow)
        {
            Stalled = true;
            try
            {
                _stalled.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }

            return;
        }

        _windowBytes = 0;
        _windowTime = TimeSpan.Zero;
        if (_reading)
        {
            _readStarted = _time.GetTimestamp();
        }
    }

    public void Dispose()
    {
        _timer.Dispose();
        _stalled.Dispose();
    }
}
