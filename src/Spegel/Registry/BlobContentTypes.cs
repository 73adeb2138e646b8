using System.Collections.Concurrent;
using System.IO.Pipelines;
using Spegel.Oci;
using Spegel.Store;

namespace Spegel.Registry;

/// <summary>
/// The <c>Content-Type</c> of a whole local blob, as Spegel sends it: the blob's fingerprinted media type
/// (<see cref="MediaTypes.Fingerprint"/>). Blobs over 4 MiB, and blobs that do not start with <c>{</c> (compressed
/// layers), are <c>application/octet-stream</c> after reading at most one small chunk; only small JSON blobs (image
/// configs, artifacts) are read whole. Content is immutable per digest, so answers are remembered (bounded).
/// </summary>
internal sealed class BlobContentTypes
{
    private const int MaxRemembered = 4096;
    private const int ProbeBytes = 512;
    private readonly ConcurrentDictionary<Digest, string> _known = new();

    public async ValueTask<string> GetAsync(BlobReader blob, CancellationToken cancellationToken)
    {
        if (blob.Size > MediaTypes.MaxManifestBytes || blob.Size == 0)
        {
            return MediaTypes.OctetStream;
        }

        if (_known.TryGetValue(blob.Digest, out string? known))
        {
            return known;
        }

        string type;
        try
        {
            byte[] head = await ReadAsync(blob, (int)Math.Min(ProbeBytes, blob.Size), cancellationToken).ConfigureAwait(false);
            type = StartsWithObject(head)
                ? MediaTypes.Fingerprint(head.Length == blob.Size ? head : await blob.ReadAllAsync(MediaTypes.MaxManifestBytes, cancellationToken).ConfigureAwait(false)) ?? MediaTypes.OctetStream
                : MediaTypes.OctetStream;
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or Grpc.Core.RpcException && !cancellationToken.IsCancellationRequested)
        {
            // Not remembered: the blob's bytes could not be read now; sending them will meet the same failure.
            return MediaTypes.OctetStream;
        }

        if (_known.Count >= MaxRemembered)
        {
            _known.Clear();
        }

        _known[blob.Digest] = type;
        return type;
    }

    /// <summary>
    /// The first non-whitespace byte is <c>{</c>. Anything else ends as octet-stream in Spegel too (not JSON, or
    /// JSON that is not an object, which Spegel cannot type).
    /// </summary>
    private static bool StartsWithObject(ReadOnlySpan<byte> head)
    {
        foreach (byte b in head)
        {
            if (b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
            {
                continue;
            }

            return b == (byte)'{';
        }

        return false;
    }

    private static async Task<byte[]> ReadAsync(BlobReader blob, int count, CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream(count);
        var writer = PipeWriter.Create(buffer, new StreamPipeWriterOptions(leaveOpen: true));
        await blob.CopyToAsync(writer, 0, count, cancellationToken).ConfigureAwait(false);
        await writer.CompleteAsync().ConfigureAwait(false);
        return buffer.ToArray();
    }
}
