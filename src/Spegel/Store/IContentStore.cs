using System.IO.Pipelines;
using Spegel.Oci;

namespace Spegel.Store;

/// <summary>A blob this node holds: its digest, size and the registries it was pulled from.</summary>
internal sealed record ContentInfo(Digest Digest, long Size, IReadOnlyList<DistributionSource> Sources);

/// <summary>An image (a name that points at a manifest or index) in the store.</summary>
internal sealed record ImageRecord(string Name, Digest Target, string MediaType, long Size);

/// <summary>
/// What this node holds. containerd is the implementation; tests may substitute others. Everything above it
/// (registry endpoints, advertising) sees content only through here.
/// </summary>
internal interface IContentStore
{
    /// <summary>The blob's info when it exists in our namespace, else null.</summary>
    ValueTask<ContentInfo?> StatAsync(Digest digest, CancellationToken cancellationToken);

    /// <summary>The image named <paramref name="name"/> (e.g. <c>docker.io/library/nginx:1.27</c>), else null.</summary>
    ValueTask<ImageRecord?> ResolveImageAsync(string name, CancellationToken cancellationToken);

    /// <summary>Opens a blob for reading, or null when it is not (or no longer) in the store.</summary>
    ValueTask<BlobReader?> OpenAsync(Digest digest, CancellationToken cancellationToken);

    IAsyncEnumerable<ImageRecord> ListImagesAsync(CancellationToken cancellationToken);

    IAsyncEnumerable<ContentInfo> ListContentAsync(CancellationToken cancellationToken);
}

/// <summary>An open blob. Copies ranges straight to a pipe so a blob is never held in memory.</summary>
internal abstract class BlobReader : IAsyncDisposable
{
    protected BlobReader(Digest digest, long size)
    {
        Digest = digest;
        Size = size;
    }

    public Digest Digest { get; }

    public long Size { get; }

    /// <summary>Writes bytes [offset, offset+count) to <paramref name="destination"/>, flushing as it goes.</summary>
    public abstract Task CopyToAsync(PipeWriter destination, long offset, long count, CancellationToken cancellationToken);

    public virtual ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}
