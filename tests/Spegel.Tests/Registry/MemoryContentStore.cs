using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Spegel.Oci;
using Spegel.Store;

namespace Spegel.Tests.Registry;

/// <summary>An in-memory content store for registry tests (the real one is tested against containerd).</summary>
internal sealed class MemoryContentStore : IContentStore
{
    private readonly Dictionary<Digest, byte[]> _blobs = [];
    private readonly Dictionary<string, ImageRecord> _images = [];

    /// <summary>When set, reading a blob fails after this many bytes (a store that breaks mid-transfer).</summary>
    public long? FailAfterBytes { get; set; }

    public Digest Add(byte[] content)
    {
        var digest = Digest.Sha256(SHA256.HashData(content));
        _blobs[digest] = content;
        return digest;
    }

    public Digest AddImage(string name, byte[] manifest, string mediaType)
    {
        var digest = Add(manifest);
        _images[name] = new ImageRecord(name, digest, mediaType, manifest.Length);
        return digest;
    }

    public ValueTask<ContentInfo?> StatAsync(Digest digest, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_blobs.TryGetValue(digest, out byte[]? b) ? new ContentInfo(digest, b.Length, new Dictionary<string, string>()) : null);

    public ValueTask<ImageRecord?> ResolveImageAsync(string name, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_images.GetValueOrDefault(name));

    public ValueTask<BlobReader?> OpenAsync(Digest digest, CancellationToken cancellationToken) =>
        ValueTask.FromResult<BlobReader?>(_blobs.TryGetValue(digest, out byte[]? b) ? new MemoryBlobReader(digest, b, FailAfterBytes) : null);

    public async IAsyncEnumerable<ImageRecord> ListImagesAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.Yield();
        foreach (var image in _images.Values)
        {
            yield return image;
        }
    }

    public async IAsyncEnumerable<ContentInfo> ListContentAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.Yield();
        foreach (var (digest, bytes) in _blobs)
        {
            yield return new ContentInfo(digest, bytes.Length, new Dictionary<string, string>());
        }
    }

    private sealed class MemoryBlobReader(Digest digest, byte[] content, long? failAfter) : BlobReader(digest, content.Length)
    {
        public override async Task CopyToAsync(PipeWriter destination, long offset, long count, CancellationToken cancellationToken)
        {
            long limit = failAfter is { } f ? Math.Min(count, f) : count;
            await destination.WriteAsync(content.AsMemory((int)offset, (int)limit), cancellationToken);
            if (limit < count)
            {
                throw new IOException("simulated store failure");
            }
        }
    }
}
