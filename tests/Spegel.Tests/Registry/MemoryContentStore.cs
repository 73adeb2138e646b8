using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Spegel.Containerd;
using Spegel.Oci;
using Spegel.Store;

namespace Spegel.Tests.Registry;

/// <summary>An in-memory content store for registry tests (the real one is tested against containerd).</summary>
internal sealed class MemoryContentStore : IContentStore
{
    private readonly Dictionary<Digest, byte[]> _blobs = [];
    private readonly Dictionary<Digest, IReadOnlyDictionary<string, string>> _labels = [];
    private readonly Dictionary<string, ImageRecord> _images = [];

    /// <summary>When set, reading a blob fails after this many bytes (a store that breaks mid-transfer).</summary>
    public long? FailAfterBytes { get; set; }

    /// <summary>
    /// When set, blobs are written in chunks of this size, each flushed (as the content folder's reader does), so a
    /// client that does not read holds the writer back; otherwise in one write.
    /// </summary>
    public int? ChunkSize { get; set; }

    /// <summary>When set, a read of more than <see cref="Spegel.Registry.ContentTypes.ProbeBytes"/> waits for this first.</summary>
    public Task? HoldLargeReads { get; set; }

    private long _bytesRead;

    /// <summary>Bytes handed out by every read so far.</summary>
    public long BytesRead => Interlocked.Read(ref _bytesRead);

    public Digest Add(byte[] content, IReadOnlyDictionary<string, string>? labels = null)
    {
        var digest = Digest.Sha256(SHA256.HashData(content));
        lock (_blobs)
        {
            _blobs[digest] = content;
            _labels[digest] = labels ?? new Dictionary<string, string>();
        }

        return digest;
    }

    public void Remove(Digest digest)
    {
        lock (_blobs)
        {
            _blobs.Remove(digest);
        }
    }

    public void RemoveImage(string name)
    {
        lock (_blobs)
        {
            _images.Remove(name);
        }
    }

    public Digest AddImage(string name, byte[] manifest, string mediaType, IReadOnlyDictionary<string, string>? labels = null)
    {
        var digest = Add(manifest, labels);
        lock (_blobs)
        {
            _images[name] = new ImageRecord(name, digest, mediaType, manifest.Length);
        }

        return digest;
    }

    public ValueTask<ContentInfo?> StatAsync(Digest digest, CancellationToken cancellationToken)
    {
        lock (_blobs)
        {
            return ValueTask.FromResult(_blobs.TryGetValue(digest, out byte[]? b) ? new ContentInfo(digest, b.Length, DistributionSourceLabels.Parse(_labels[digest])) : null);
        }
    }

    public ValueTask<ImageRecord?> ResolveImageAsync(string name, CancellationToken cancellationToken)
    {
        lock (_blobs)
        {
            return ValueTask.FromResult(_images.GetValueOrDefault(name));
        }
    }

    public ValueTask<BlobReader?> OpenAsync(Digest digest, CancellationToken cancellationToken)
    {
        lock (_blobs)
        {
            return ValueTask.FromResult<BlobReader?>(_blobs.TryGetValue(digest, out byte[]? b) ? new MemoryBlobReader(this, digest, b) : null);
        }
    }

    public async IAsyncEnumerable<ImageRecord> ListImagesAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.Yield();
        List<ImageRecord> images;
        lock (_blobs)
        {
            images = [.. _images.Values];
        }

        foreach (var image in images)
        {
            yield return image;
        }
    }

    public async IAsyncEnumerable<ContentInfo> ListContentAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.Yield();
        List<ContentInfo> content;
        lock (_blobs)
        {
            content = _blobs.Select(b => new ContentInfo(b.Key, b.Value.Length, DistributionSourceLabels.Parse(_labels[b.Key]))).ToList();
        }

        foreach (var info in content)
        {
            yield return info;
        }
    }

    private sealed class MemoryBlobReader(MemoryContentStore store, Digest digest, byte[] content) : BlobReader(digest, content.Length)
    {
        public override async Task CopyToAsync(PipeWriter destination, long offset, long count, CancellationToken cancellationToken)
        {
            if (count > Spegel.Registry.ContentTypes.ProbeBytes && store.HoldLargeReads is { } hold)
            {
                await hold.WaitAsync(cancellationToken);
            }

            long limit = store.FailAfterBytes is { } f ? Math.Min(count, f) : count;
            int chunk = store.ChunkSize ?? (int)Math.Max(1, limit);
            for (long done = 0; done < limit;)
            {
                int n = (int)Math.Min(chunk, limit - done);
                var flush = await destination.WriteAsync(content.AsMemory((int)(offset + done), n), cancellationToken);
                Interlocked.Add(ref store._bytesRead, n);
                done += n;
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    throw new OperationCanceledException("the reader went away");
                }
            }

            if (limit < count)
            {
                throw new IOException("simulated store failure");
            }
        }
    }
}
