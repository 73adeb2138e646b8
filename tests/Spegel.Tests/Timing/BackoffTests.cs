using Microsoft.Extensions.Time.Testing;
using Spegel.Timing;

namespace Spegel.Tests.Timing;

public sealed class BackoffTests
{
    [Fact]
    public void DoublesUpToTheMaximumAndStartsOverAfterAReset()
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(300));
        Assert.Equal([50, 100, 200, 300, 300], Enumerable.Range(0, 5).Select(_ => backoff.Next().TotalMilliseconds));
        backoff.Reset();
        Assert.Equal(50, backoff.Next().TotalMilliseconds);
    }

    [Fact]
    public async Task WaitsOnTheGivenClockAndSaysWhenCancelled()
    {
        var time = new FakeTimeProvider();
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(10));
        var wait = backoff.WaitAsync(time, CancellationToken.None);
        Assert.False(wait.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.False(wait.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(await wait);

        using var cancel = new CancellationTokenSource();
        var cancelled = backoff.WaitAsync(time, cancel.Token);
        await cancel.CancelAsync();
        Assert.False(await cancelled);
    }
}
