using Spegel.Store;

namespace Spegel.Containerd;

/// <summary>containerd's event service as an event source for the advertiser.</summary>
internal sealed class ContainerdEventSource(ContainerdClient client) : IStoreEventSource
{
    public IAsyncEnumerable<StoreEvent> SubscribeAsync(CancellationToken cancellationToken) => ContainerdEvents.SubscribeAsync(client, cancellationToken);
}
