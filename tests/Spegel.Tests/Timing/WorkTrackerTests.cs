using Spegel.Timing;

namespace Spegel.Tests.Timing;

public sealed class WorkTrackerTests
{
    [Fact]
    public async Task FailuresAreHandedToTheOwnerAndDrainWaitsForWhatRuns()
    {
        var failures = new List<string>();
        var tracker = new WorkTracker(ex => { lock (failures) { failures.Add(ex.Message); } });
        var release = new TaskCompletionSource();
        tracker.Run(() => release.Task);
        tracker.Run(() => throw new InvalidOperationException("boom"));
        tracker.Track(Task.FromCanceled(new CancellationToken(canceled: true)));

        var drain = tracker.DrainAsync(CancellationToken.None);
        Assert.False(drain.IsCompleted); // the first is still running
        release.SetResult();
        await drain;
        Assert.Equal(0, tracker.Count);
        Assert.Equal(["boom"], failures); // a cancellation is not a failure
    }

    [Fact]
    public async Task DrainingIsBoundedByItsToken()
    {
        var tracker = new WorkTracker(_ => { });
        tracker.Run(() => Task.Delay(Timeout.Infinite));
        using var cancel = new CancellationTokenSource();
        var drain = tracker.DrainAsync(cancel.Token);
        Assert.False(drain.IsCompleted);
        await cancel.CancelAsync();
        await drain;
        Assert.Equal(1, tracker.Count);
    }
}
