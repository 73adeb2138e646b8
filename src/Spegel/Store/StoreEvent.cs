using Spegel.Oci;

namespace Spegel.Store;

internal enum StoreEventKind
{
    ImageCreated,
    ImageUpdated,
    ImageDeleted,
    ContentCreated,
    ContentDeleted,
}

/// <summary>A change in the store: an image name (for image events) or a digest (for content events).</summary>
internal sealed record StoreEvent(StoreEventKind Kind, string? ImageName, Digest? Digest);

/// <summary>A stream of store events (containerd's event service, or a fake in tests).</summary>
internal interface IStoreEventSource
{
    IAsyncEnumerable<StoreEvent> SubscribeAsync(CancellationToken cancellationToken);
}
