namespace Spegel.Timing;

/// <summary>
/// A <see cref="TokenBucket"/> per key (a client), in a table of bounded size: when it is full, the buckets of keys
/// that have been quiet long enough to be full again are forgotten (recreating one gives the same answer); when all are
/// busy, new keys share one overflow bucket, so a flood of new keys can neither grow the table nor escape the limit.
/// </summary>
internal sealed class KeyedRateLimit<TKey>(int burst, double perSecond, int maxKeys, TimeProvider time)
    where TKey : notnull
{
    private readonly Dictionary<TKey, TokenBucket> _buckets = [];
    private readonly TokenBucket _overflow = new(burst, perSecond, time);
    private long? _lastSweep;

    /// <summary>Keys with a bucket of their own (for tests).</summary>
    public int Count
    {
        get
        {
            lock (_buckets)
            {
                return _buckets.Count;
            }
        }
    }

    public bool TryTake(TKey key) => BucketOf(key).TryTake();

    private TokenBucket BucketOf(TKey key)
    {
        lock (_buckets)
        {
            if (_buckets.TryGetValue(key, out var bucket))
            {
                return bucket;
            }

            if (_buckets.Count >= maxKeys && (_lastSweep is not { } last || time.GetElapsedTime(last) >= TimeSpan.FromSeconds(1)))
            {
                // At most once a second, so a flood of new keys costs no more than one sweep a second.
                _lastSweep = time.GetTimestamp();
                foreach (var (quiet, _) in _buckets.Where(b => b.Value.IsFull).ToList())
                {
                    _buckets.Remove(quiet);
                }
            }

            if (_buckets.Count >= maxKeys)
            {
                return _overflow;
            }

            bucket = new TokenBucket(burst, perSecond, time);
            _buckets[key] = bucket;
            return bucket;
        }
    }
}
