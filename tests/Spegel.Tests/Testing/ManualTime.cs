using Microsoft.Extensions.Time.Testing;

namespace Spegel.Tests.Testing;

/// <summary>
/// Fake time that tells the test when the code under test starts a wait. <see cref="FakeTimeProvider.Advance"/> only
/// fires timers that exist: a wait created after the clock moved is due later and would never end. So a test waits
/// for the wait it means to end (<see cref="NextTimerAsync"/>) and then advances; what happens is then the same on an
/// idle machine and on two busy cores.
/// </summary>
internal sealed class ManualTime : TimeProvider
{
    private readonly FakeTimeProvider _inner = new(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly Dictionary<TimeSpan, Queue<TaskCompletionSource>> _waiting = [];
    private readonly Dictionary<TimeSpan, int> _unclaimed = [];
    private readonly Dictionary<TimeSpan, int> _createdByDue = [];
    private int _created;

    /// <summary>How many timers (delays, timeouts, periodic timers) the code under test created.</summary>
    public int TimersCreated => Volatile.Read(ref _created);

    /// <summary>How far the clock has been moved.</summary>
    public TimeSpan Elapsed { get; private set; }

    public override DateTimeOffset GetUtcNow() => _inner.GetUtcNow();

    public override long GetTimestamp() => _inner.GetTimestamp();

    public override long TimestampFrequency => _inner.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = _inner.CreateTimer(callback, state, dueTime, period);
        Interlocked.Increment(ref _created);
        lock (_waiting)
        {
            _createdByDue[dueTime] = _createdByDue.GetValueOrDefault(dueTime) + 1;
            if (_waiting.TryGetValue(dueTime, out var waiters) && waiters.Count > 0)
            {
                waiters.Dequeue().TrySetResult();
            }
            else
            {
                _unclaimed[dueTime] = _unclaimed.GetValueOrDefault(dueTime) + 1;
            }
        }

        return timer;
    }

    /// <summary>How many timers due after <paramref name="due"/> the code under test created so far.</summary>
    public int Created(TimeSpan due)
    {
        lock (_waiting)
        {
            return _createdByDue.GetValueOrDefault(due);
        }
    }

    /// <summary>
    /// Completes when the code under test has created a timer due after <paramref name="due"/> that no earlier call
    /// returned (so each call is the next such wait, in order).
    /// </summary>
    public Task NextTimerAsync(TimeSpan due)
    {
        lock (_waiting)
        {
            if (_unclaimed.GetValueOrDefault(due) > 0)
            {
                _unclaimed[due]--;
                return Task.CompletedTask;
            }

            var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_waiting.TryGetValue(due, out var waiters))
            {
                _waiting[due] = waiters = new Queue<TaskCompletionSource>();
            }

            waiters.Enqueue(waiter);
            return waiter.Task.Within($"the code under test starting a {due.TotalMilliseconds} ms wait");
        }
    }

    /// <summary>Moves the clock, firing every timer that falls due.</summary>
    public void Advance(TimeSpan by)
    {
        Elapsed += by;
        _inner.Advance(by);
    }

    /// <summary>Waits for the next wait of <paramref name="due"/>, then ends it.</summary>
    public async Task AdvanceWhenWaitingAsync(TimeSpan due)
    {
        await NextTimerAsync(due);
        Advance(due);
    }
}
