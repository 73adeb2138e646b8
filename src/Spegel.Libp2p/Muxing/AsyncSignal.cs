namespace Spegel.Libp2p.Muxing;

/// <summary>A wake-up for one waiter at a time: <see cref="Set"/> releases the next (or pending) <see cref="WaitAsync"/>.</summary>
internal sealed class AsyncSignal
{
    private readonly SemaphoreSlim _semaphore = new(0, 1);

    public void Set()
    {
        try
        {
            _semaphore.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled.
        }
    }

    public Task WaitAsync(CancellationToken cancellationToken) => _semaphore.WaitAsync(cancellationToken);
}
