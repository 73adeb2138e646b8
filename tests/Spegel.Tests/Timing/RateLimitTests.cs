using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Spegel.Timing;
using Spegel.Tests.Testing;

namespace Spegel.Tests.Timing;

public sealed class RateLimitTests
{
    [Fact]
    public void ABucketGivesItsBurstThenItsRate()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(3, 2, time);
        Assert.Equal([true, true, true, false], Enumerable.Range(0, 4).Select(_ => bucket.TryTake()));
        time.Advance(TimeSpan.FromMilliseconds(499));
        Assert.False(bucket.TryTake());
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(bucket.TryTake());
        Assert.False(bucket.IsFull);

        // Idle for long: full again, never more than the burst.
        time.Advance(TimeSpan.FromHours(1));
        Assert.True(bucket.IsFull);
        Assert.Equal(3, Enumerable.Range(0, 10).Count(_ => bucket.TryTake()));
    }

    [Fact]
    public void EachKeyHasItsRateAndTheTableStaysBounded()
    {
        var time = new FakeTimeProvider();
        var limit = new KeyedRateLimit<string>(2, 1, maxKeys: 3, time);
        Assert.Equal(2, Enumerable.Range(0, 5).Count(_ => limit.TryTake("a")));
        Assert.Equal(2, Enumerable.Range(0, 5).Count(_ => limit.TryTake("b")));

        // A flood of new keys: the table holds 3, the rest share one bucket (its burst, then nothing).
        int granted = Enumerable.Range(0, 1000).Count(i => limit.TryTake($"new-{i}"));
        Assert.Equal(3, limit.Count);
        Assert.Equal(1 + 2, granted); // "new-0" got a bucket of its own (asked once), the others share one (its burst of 2)

        // Quiet keys are forgotten when room is needed (at most one sweep a second).
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.True(limit.TryTake("c"));
        Assert.True(limit.Count <= 3);
    }

    [Fact]
    public void ALogBudgetSuppressesBeyondItsRateAndSaysHowManyItSuppressed()
    {
        var time = new FakeTimeProvider();
        var logger = new ListLogger<RateLimitTests>();
        var budget = new LogBudget("peers that failed", 5, 1, time);
        int allowed = Enumerable.Range(0, 10_000).Count(_ => budget.TryTake(logger));
        Assert.Equal(5, allowed);
        Assert.Equal(9_995, budget.Suppressed);
        Assert.Empty(logger.Messages);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(budget.TryTake(logger));
        Assert.Equal(["9995 log lines about peers that failed were suppressed (rate limit)"], logger.Messages);
        Assert.Equal(0, budget.Suppressed);
    }
}
