using System.Collections.Concurrent;
using System.IO.Pipelines;
using Spegel.Oci;
using Spegel.Store;

namespace Spegel.Registry;

/// <summary>What a local blob's bytes say it is (<see cref="ContentTypes"/>).</summary>
/// <param name="Json">It starts with <c>{</c>: only such a blob can be a manifest or have a JSON media type.</param>
/// <param name="Fingerprint">Its media type as Spegel fingerprints it (<see cref="MediaTypes.Fingerprint"/>), or null where Spegel's fingerprint fails.</param>
internal sealed record ContentKind(bool Json, string? Fingerprint)
{
    public static readonly ContentKind Binary = new(false, MediaTypes.OctetStream);

    /// <summary>Its <c>Content-Type</c> as a whole blob (octet-stream where the fingerprint fails).</summary>
    public string BlobType => Fingerprint ?? MediaTypes.OctetStream;

    /// <summary>
    /// Its media type when served as a manifest: an image index or manifest, OCI or Docker, as Spegel's
    /// <c>IsManifestsMediatype</c> allows; null for anything else (a layer, an image config, other JSON), which
    /// Spegel answers 404 at <c>/manifests/</c>. <paramref name="descriptorType"/> is the image record's type, used
    /// for a document the fingerprint cannot type (containerd recorded what the tag points at).
    /// </summary>
    public string? ManifestType(string? descriptorType)
    {
        string? type = Json ? Fingerprint ?? descriptorType : null;
        return MediaTypes.IsIndex(type) || MediaTypes.IsManifest(type) ? type : null;
    }
}

/// <summary>
/// The kind of a local blob, read from its bytes the cheap way first: at most <see cref="ProbeBytes"/> decide that a
/// layer (tar, gzip, zstd: never <c>{</c>) is binary, so a layer asked for at <c>/manifests/</c> costs 512 bytes, not
/// its size. Only a JSON blob of at most 4 MiB is read whole, and such reads hold at most the <see cref="ByteBudget"/>'s
/// bytes at once (waiting briefly for it; refused after that). Content is immutable per digest, so answers are
/// remembered (bounded): a manifest is read whole once, and later requests stream it without reading it first.
/// </summary>
internal sealed class ContentTypes(ByteBudget budget, TimeSpan budgetWait)
{
    /// <summary>Bytes read to tell JSON from binary: a JSON document's first non-blank byte is within them.</summary>
    public const int ProbeBytes = 512;

    private const int MaxRemembered = 4096;
    private readonly ConcurrentDictionary<Digest, ContentKind> _known = new();

    /// <summary>What the bytes say; <see cref="Lookup.Busy"/> when the read budget stayed spent; <see cref="Lookup.Unreadable"/> on a read error.</summary>
    public async ValueTask<(Lookup Outcome, ContentKind Kind)> GetAsync(BlobReader blob, CancellationToken cancellationToken)
    {
        if (blob.Size > MediaTypes.MaxManifestBytes || blob.Size == 0)
        {
            return (Lookup.Known, ContentKind.Binary);
        }

        if (_known.TryGetValue(blob.Digest, out var known))
        {
            return (Lookup.Known, known);
        }

        try
        {
            byte[] head = await ReadAsync(blob, (int)Math.Min(ProbeBytes, blob.Size), cancellationToken).ConfigureAwait(false);
            var start = FirstByte(head);
            if (start == Start.Other || (start == Start.Blank && head.Length == blob.Size))
            {
                return (Lookup.Known, Remember(blob.Digest, ContentKind.Binary));
            }

            if (head.Length == blob.Size)
            {
                return (Lookup.Known, Remember(blob.Digest, Classify(head)));
            }

            using var lease = await budget.TryTakeAsync(blob.Size, budgetWait, cancellationToken).ConfigureAwait(false);
            if (lease is null)
            {
                return (Lookup.Busy, ContentKind.Binary);
            }

            // Another request may have read it while we waited.
            if (_known.TryGetValue(blob.Digest, out known))
            {
                return (Lookup.Known, known);
            }

            byte[] whole = await ReadAsync(blob, (int)blob.Size, cancellationToken).ConfigureAwait(false);
            return (Lookup.Known, Remember(blob.Digest, Classify(whole)));
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or Grpc.Core.RpcException && !cancellationToken.IsCancellationRequested)
        {
            // Not remembered: the bytes could not be read now.
            return (Lookup.Unreadable, ContentKind.Binary);
        }
    }

    private static ContentKind Classify(byte[] json) => new(true, MediaTypes.Fingerprint(json));

    private ContentKind Remember(Digest digest, ContentKind kind)
    {
        if (_known.Count >= MaxRemembered)
        {
            _known.Clear();
        }

        _known[digest] = kind;
        return kind;
    }

    /// <summary>
    /// The first non-whitespace byte: <c>{</c>, or anything else, which is not a manifest and whose blob type is
    /// octet-stream in Spegel too (not JSON, or JSON that is not an object, which Spegel cannot type); or only blanks
    /// so far.
    /// </summary>
    private static Start FirstByte(ReadOnlySpan<byte> head)
    {
        foreach (byte b in head)
        {
            if (b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
            {
                continue;
            }

            return b == (byte)'{' ? Start.Object : Start.Other;
        }

        return Start.Blank;
    }

    private enum Start
    {
        Object,
        Other,
        Blank,
    }

    /// <summary>The first <paramref name="count"/> bytes, in one array of exactly that size.</summary>
    private static async Task<byte[]> ReadAsync(BlobReader blob, int count, CancellationToken cancellationToken)
    {
        var buffer = new MemoryStream(count);
        var writer = PipeWriter.Create(buffer, new StreamPipeWriterOptions(leaveOpen: true));
        await blob.CopyToAsync(writer, 0, count, cancellationToken).ConfigureAwait(false);
        await writer.CompleteAsync().ConfigureAwait(false);
        if (buffer.Length != count)
        {
            throw new InvalidDataException($"{blob.Digest}: {buffer.Length} bytes read of {count}");
        }

        return buffer.Capacity == count ? buffer.GetBuffer() : buffer.ToArray();
    }

    internal enum Lookup
    {
        Known,
        Busy,
        Unreadable,
    }
}
