using Spegel.Registry;
using Spegel.Tests.Testing;

namespace Spegel.Tests.Registry;

/// <summary>The bound on bytes held by whole manifest reads, on fake time.</summary>
public sealed class ByteBudgetTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(1);
    private readonly ManualTime _time = new();

    [Fact]
    public async Task ReadsBeyondTheBudgetWaitInOrderAndAreRefusedAfterTheWait()
    {
        var budget = new ByteBudget(10, _time);
        var a = await budget.TryTakeAsync(6, Wait, CancellationToken.None);
        var b = await budget.TryTakeAsync(4, Wait, CancellationToken.None);
        Assert.NotNull(a);
        Assert.NotNull(b);
        Assert.Equal(10, budget.InUse);

        var c = budget.TryTakeAsync(5, Wait, CancellationToken.None).AsTask();
        var d = budget.TryTakeAsync(1, Wait, CancellationToken.None).AsTask(); // fits no sooner than c: first come, first served
        Assert.False(c.IsCompleted);
        Assert.False(d.IsCompleted);

        a!.Dispose();
        using (var granted = await c.Within("c"))
        {
            Assert.NotNull(granted);
            using var grantedD = await d.Within("d");
            Assert.NotNull(grantedD);
            Assert.Equal(10, budget.InUse);

            // Nothing frees up within the wait: refused, and the queue is left as it was.
            var e = budget.TryTakeAsync(1, Wait, CancellationToken.None).AsTask();
            await _time.AdvanceWhenWaitingAsync(Wait);
            Assert.Null(await e.Within("e"));
        }

        b!.Dispose();
        Assert.Equal(0, budget.InUse);
        Assert.Equal(10, budget.Peak);
    }

    [Fact]
    public async Task AWaiterThatGivesUpLetsSmallerOnesBehindItIn()
    {
        var budget = new ByteBudget(10, _time);
        using var held = await budget.TryTakeAsync(8, Wait, CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var big = budget.TryTakeAsync(9, Wait, cancel.Token).AsTask();
        var small = budget.TryTakeAsync(2, Wait, CancellationToken.None).AsTask();
        Assert.False(small.IsCompleted); // behind the big one
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => big);
        using var granted = await small.Within("the small read");
        Assert.NotNull(granted);
        Assert.Equal(10, budget.InUse);
    }

    [Fact]
    public async Task MoreThanTheBudgetIsAProgrammingError() =>
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await new ByteBudget(10, _time).TryTakeAsync(11, Wait, CancellationToken.None));
}
