namespace Spegel.Timing;

/// <summary>
/// The rule behind <see cref="TransferMonitor"/>, as a pure state machine driven by the caller's clock (so it is tested
/// with exact times, like Kestrel's <c>TimeoutControl</c>): over every <c>grace</c> of time spent waiting on the peer,
/// at least <c>minBytes</c> must arrive, or the transfer is stalled. Only time inside a read counts (time spent writing
/// to our client does not), and at most one tick interval counts per tick or read end, as Kestrel does ("assume overly
/// long tick intervals are the result of server resource starvation"): a node whose own threads were starved never
/// blames its peer for the lost time.
/// </summary>
internal sealed class RateMonitor(long minBytesPerWindow, TimeSpan grace, TimeSpan tickInterval)
{
    private TimeSpan _windowTime;
    private long _windowBytes;
    private TimeSpan _mark;
    private bool _reading;

    public bool Stalled { get; private set; }

    /// <summary>Time counted in the current window (for tests and logs).</summary>
    public TimeSpan WindowTime => _windowTime;

    public void BeginRead(TimeSpan now)
    {
        _mark = now;
        _reading = true;
    }

    /// <summary>A read returned <paramref name="bytes"/>; true when the transfer is now stalled.</summary>
    public bool EndRead(TimeSpan now, int bytes)
    {
        if (_reading)
        {
            Count(now);
        }

        _reading = false;
        _windowBytes += bytes;
        return Judge();
    }

    /// <summary>The periodic check; true when the transfer is now stalled.</summary>
    public bool Tick(TimeSpan now)
    {
        if (_reading)
        {
            Count(now);
        }

        return Judge();
    }

    private void Count(TimeSpan now)
    {
        var elapsed = now - _mark;
        _mark = now;
        if (elapsed > TimeSpan.Zero)
        {
            _windowTime += elapsed < tickInterval ? elapsed : tickInterval;
        }
    }

    /// <summary>At the end of a window: too few bytes is a stall; otherwise a new window starts.</summary>
    private bool Judge()
    {
        if (Stalled || _windowTime < grace)
        {
            return Stalled;
        }

        if (_windowBytes < minBytesPerWindow)
        {
            Stalled = true;
            return true;
        }

        _windowBytes = 0;
        _windowTime = TimeSpan.Zero;
        return false;
    }
}
