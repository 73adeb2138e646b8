namespace Spegel.Registry;

/// <summary>
/// A bound on the bytes held at once by reads that must see a whole document (a manifest's media type): a read takes
/// its size from the budget before it starts and gives it back when done. When the budget is spent a read waits, first
/// come first served, at most the given time, and is refused after that (the caller answers 503 and containerd goes to
/// the next host). Waits run on the caller's <see cref="TimeProvider"/>.
/// </summary>
internal sealed class ByteBudget(long capacity, TimeProvider time)
{
    private readonly object _gate = new();
    private readonly LinkedList<Waiter> _waiting = new();
    private long _inUse;
    private long _peak;

    public long Capacity => capacity;

    /// <summary>The most bytes held at once so far (for tests and the report of the bound).</summary>
    public long Peak
    {
        get
        {
            lock (_gate)
            {
                return _peak;
            }
        }
    }

    public long InUse
    {
        get
        {
            lock (_gate)
            {
                return _inUse;
            }
        }
    }

    /// <summary>
    /// Takes <paramref name="bytes"/>, waiting at most <paramref name="wait"/> behind earlier readers; null when the
    /// budget did not free up in time. Dispose the lease to give the bytes back.
    /// </summary>
    public async ValueTask<Lease?> TryTakeAsync(long bytes, TimeSpan wait, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes, capacity);
        Waiter waiter;
        LinkedListNode<Waiter> node;
        lock (_gate)
        {
            if (_waiting.Count == 0 && _inUse + bytes <= capacity)
            {
                Take(bytes);
                return new Lease(this, bytes);
            }

            waiter = new Waiter(bytes);
            node = _waiting.AddLast(waiter);
        }

        try
        {
            await waiter.Granted.Task.WaitAsync(wait, time, cancellationToken).ConfigureAwait(false);
            return new Lease(this, bytes);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            bool granted;
            lock (_gate)
            {
                // Granted at the moment the wait ended: the bytes are ours, so keep them (or give them back below).
                granted = waiter.IsGranted;
                if (!granted)
                {
                    _waiting.Remove(node);
                }
            }

            if (granted && ex is TimeoutException)
            {
                return new Lease(this, bytes);
            }

            // Leaving the queue may let the readers behind us in.
            Release(granted ? bytes : 0);
            if (ex is OperationCanceledException)
            {
                throw;
            }

            return null;
        }
    }

    private void Take(long bytes)
    {
        _inUse += bytes;
        _peak = Math.Max(_peak, _inUse);
    }

    private void Release(long bytes)
    {
        var granted = new List<Waiter>();
        lock (_gate)
        {
            _inUse -= bytes;
            while (_waiting.First is { } first && _inUse + first.Value.Bytes <= capacity)
            {
                _waiting.RemoveFirst();
                Take(first.Value.Bytes);
                first.Value.IsGranted = true;
                granted.Add(first.Value);
            }
        }

        foreach (var waiter in granted)
        {
            waiter.Granted.TrySetResult();
        }
    }

    private sealed class Waiter(long bytes)
    {
        public long Bytes { get; } = bytes;

        /// <summary>Set under the budget's lock when the bytes were taken for this waiter.</summary>
        public bool IsGranted { get; set; }

        public TaskCompletionSource Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Bytes taken from the budget until disposed.</summary>
    public sealed class Lease(ByteBudget budget, long bytes) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                budget.Release(bytes);
            }
        }
    }
}
