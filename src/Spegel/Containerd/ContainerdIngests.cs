using System.Globalization;
using Spegel.Oci;
using Spegel.Store;

namespace Spegel.Containerd;

/// <summary>A download containerd has in progress: its folder under <c>ingest/</c> and the size it will have.</summary>
internal sealed record IngestFile(string Folder, long Total)
{
    /// <summary>The bytes written so far; containerd renames this file into <c>blobs/</c> when it commits.</summary>
    public string DataPath => Path.Combine(Folder, "data");
}

/// <summary>
/// Finds containerd's downloads in progress in the content folder. Each has a folder
/// <c>&lt;content root&gt;/ingest/&lt;hash&gt;/</c> with <c>ref</c> (e.g. <c>k8s.io/1/layer-sha256:&lt;hex&gt;</c>: the
/// containerd namespace, a lease number, and the pull names the rest after the digest it expects), <c>total</c> (the
/// expected size, when known) and <c>data</c> (what has arrived). Only downloads of our namespace are ours to serve
/// (the content folder is shared by every namespace, as committed blobs are, which <c>Content/Info</c> gates); anything
/// that does not look like that is ignored: these files are containerd's, not ours.
/// </summary>
internal sealed class ContainerdIngests(string contentRoot, string @namespace, TimeProvider time) : IDownloadsInProgress
{
    private const int MaxRefBytes = 4096;
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);

    public string ContentRoot { get; } = contentRoot;

    /// <summary>Where the blob lands when containerd commits it.</summary>
    public string CommittedPath(Digest digest) => Path.Combine(ContentRoot, "blobs", digest.Algorithm, digest.Hex);

    /// <summary>The download of <paramref name="digest"/> in progress with the most bytes so far, or null.</summary>
    public IngestFile? Find(Digest digest)
    {
        string ingestRoot = Path.Combine(ContentRoot, "ingest");
        IngestFile? best = null;
        long bestLength = -1;
        try
        {
            foreach (string folder in Directory.EnumerateDirectories(ingestRoot))
            {
                if (Read(folder, @namespace, digest) is { } ingest && Length(ingest.DataPath) is { } length && length > bestLength)
                {
                    (best, bestLength) = (ingest, length);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        return best;
    }

    /// <summary>Waits up to <paramref name="timeout"/> for a download of <paramref name="digest"/> to start.</summary>
    public async Task<IngestFile?> WaitAsync(Digest digest, TimeSpan timeout, CancellationToken cancellationToken)
    {
        long started = time.GetTimestamp();
        while (true)
        {
            if (Find(digest) is { } ingest)
            {
                return ingest;
            }

            if (time.GetElapsedTime(started) >= timeout)
            {
                return null;
            }

            await Task.Delay(PollInterval, time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The download with the most bytes so far, waiting for one to start; read with <see cref="IngestBlobReader"/>.</summary>
    public async Task<BlobReader?> OpenAsync(Digest digest, TimeSpan startTimeout, TimeSpan stallLimit, CancellationToken cancellationToken)
    {
        var ingest = Find(digest) ?? await WaitAsync(digest, startTimeout, cancellationToken).ConfigureAwait(false);
        return ingest is null ? null : IngestBlobReader.TryOpen(digest, ingest, CommittedPath(digest), stallLimit, time);
    }

    /// <summary>
    /// The ingest in <paramref name="folder"/> when it is <paramref name="namespace"/>'s download of
    /// <paramref name="digest"/> of known size.
    /// </summary>
    internal static IngestFile? Read(string folder, string @namespace, Digest digest)
    {
        string? reference = ReadSmall(Path.Combine(folder, "ref"))?.Trim();
        string? total = ReadSmall(Path.Combine(folder, "total"));
        if (reference is null || total is null || !reference.StartsWith(@namespace + "/", StringComparison.Ordinal) || !NamesDigest(reference, digest.ToString()))
        {
            return null;
        }

        return long.TryParse(total.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long size) && size > 0
            ? new IngestFile(folder, size)
            : null;
    }

    /// <summary><c>…/layer-sha256:&lt;hex&gt;</c>, <c>…-sha256:&lt;hex&gt;</c> or the bare digest.</summary>
    private static bool NamesDigest(string reference, string digest) =>
        reference.EndsWith(digest, StringComparison.Ordinal)
        && (reference.Length == digest.Length || reference[^(digest.Length + 1)] is '-' or '/' or '@');

    private static string? ReadSmall(string path)
    {
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            long length = RandomAccess.GetLength(handle);
            if (length is <= 0 or > MaxRefBytes)
            {
                return null;
            }

            byte[] buffer = new byte[length];
            int read = RandomAccess.Read(handle, buffer, 0);
            return System.Text.Encoding.UTF8.GetString(buffer, 0, read);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static long? Length(string path)
    {
        try
        {
            return new FileInfo(path) is { Exists: true } file ? file.Length : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
