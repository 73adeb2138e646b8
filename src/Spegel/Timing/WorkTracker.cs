using System.Collections.Concurrent;

namespace Spegel.Timing;

/// <summary>
/// Background work a component starts and owns, instead of fire-and-forget: each task is tracked until it ends, a
/// failure is handed to the owner (which logs it: nothing goes unobserved), and the owner can wait for what is still
/// running when it stops (<see cref="DrainAsync"/>).
/// </summary>
internal sealed class WorkTracker(Action<Exception> onFailure)
{
    private readonly ConcurrentDictionary<Task, byte> _running = new();

    /// <summary>Tasks still running.</summary>
    public int Count => _running.Count;

    /// <summary>Starts <paramref name="work"/> on the thread pool and tracks it.</summary>
    public void Run(Func<Task> work) => Track(Task.Run(work));

    /// <summary>Tracks a task already started.</summary>
    public void Track(Task task)
    {
        _running[task] = 0;
        _ = task.ContinueWith(
            (t, state) =>
            {
                var tracker = (WorkTracker)state!;
                tracker._running.TryRemove(t, out _);
                if (t.IsFaulted)
                {
                    tracker.OnFailure(t.Exception!.GetBaseException());
                }
            },
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>Waits until the work running now has ended, or <paramref name="cancellationToken"/> fires.</summary>
    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Task.WhenAll(_running.Keys).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception)
        {
            // Failures were reported through onFailure; draining only waits.
        }
    }

    private void OnFailure(Exception exception)
    {
        if (exception is not OperationCanceledException)
        {
            onFailure(exception);
        }
    }
}
