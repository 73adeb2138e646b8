namespace Spegel.Timing;

/// <summary>
/// A rate with bursts: up to <c>capacity</c> takes at once, refilled at <c>perSecond</c>. Time comes from the caller's
/// <see cref="TimeProvider"/>, so limits are tested with exact times. Thread-safe.
/// </summary>
internal sealed class TokenBucket
{
    private readonly double _capacity;
    private readonly double _perTick;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private double _tokens;
    private long _last;

    public TokenBucket(int capacity, double perSecond, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(perSecond);
        _capacity = capacity;
        _perTick = perSecond / time.TimestampFrequency;
        _time = time;
        _tokens = capacity;
        _last = time.GetTimestamp();
    }

    /// <summary>Takes one token when there is one.</summary>
    public bool TryTake()
    {
        lock (_gate)
        {
            Refill();
            if (_tokens < 1)
            {
                return false;
            }

            _tokens--;
            return true;
        }
    }

    /// <summary>Full again (nothing taken for long enough): such a bucket may be forgotten and recreated.</summary>
    public bool IsFull
    {
        get
        {
            lock (_gate)
            {
                Refill();
                return _tokens >= _capacity;
            }
        }
    }

    private void Refill()
    {
        long now = _time.GetTimestamp();
        _tokens = Math.Min(_capacity, _tokens + ((now - _last) * _perTick));
        _last = now;
    }
}
