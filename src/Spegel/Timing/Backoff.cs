namespace Spegel.Timing;

/// <summary>
/// Exponential backoff, the one way every retry loop of ours waits (bootstrap, containerd at start, the advertiser's
/// reconnect): <see cref="Next"/> gives the current delay and doubles the next one, up to the maximum;
/// <see cref="Reset"/> starts over after a success. Waiting goes through the caller's <see cref="TimeProvider"/>.
/// </summary>
internal sealed class Backoff
{
    private readonly TimeSpan _initial;
    private readonly TimeSpan _maximum;
    private TimeSpan _next;

    public Backoff(TimeSpan initial, TimeSpan maximum)
    {
        _initial = initial;
        _maximum = maximum;
        _next = initial;
    }

    /// <summary>The delay to wait now; the one after is twice as long, at most the maximum.</summary>
    public TimeSpan Next()
    {
        var delay = _next;
        _next = _next * 2 < _maximum ? _next * 2 : _maximum;
        return delay;
    }

    public void Reset() => _next = _initial;

    /// <summary>Waits <see cref="Next"/> on <paramref name="time"/>; false when cancelled instead.</summary>
    public async Task<bool> WaitAsync(TimeProvider time, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(Next(), time, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
