using System.IO.Pipelines;
using Microsoft.Win32.SafeHandles;
using Spegel.Oci;
using Spegel.Store;

namespace Spegel.Containerd;

/// <summary>
/// Reads a blob while containerd is still downloading it: follows the ingest's <c>data</c> file as it grows, up to the
/// size containerd expects. When containerd commits, it renames the file into <c>blobs/</c>; the open handle keeps
/// reading the same file. Nothing here is verified: the peer that relays these bytes hashes the whole blob and never
/// completes a response whose digest does not match. Fails (so the response is aborted) when the download is
/// abandoned (the file is gone and nothing was committed), restarts (the file shrinks) or makes no progress for
/// <c>stallLimit</c>.
/// </summary>
internal sealed class IngestBlobReader : BlobReader
{
    private const int ChunkSize = 256 * 1024;
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(10);
    private readonly SafeFileHandle _handle;
    private readonly IngestFile _ingest;
    private readonly string _committedPath;
    private readonly TimeSpan _stallLimit;
    private readonly TimeProvider _time;

    private IngestBlobReader(Digest digest, IngestFile ingest, SafeFileHandle handle, string committedPath, TimeSpan stallLimit, TimeProvider time)
        : base(digest, ingest.Total)
    {
        _ingest = ingest;
        _handle = handle;
        _committedPath = committedPath;
        _stallLimit = stallLimit;
        _time = time;
    }

    /// <summary>Opens the download's data file, or null when it is already gone.</summary>
    public static IngestBlobReader? TryOpen(Digest digest, IngestFile ingest, string committedPath, TimeSpan stallLimit, TimeProvider time)
    {
        try
        {
            var handle = File.OpenHandle(ingest.DataPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous);
            return new IngestBlobReader(digest, ingest, handle, committedPath, stallLimit, time);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public override async Task CopyToAsync(PipeWriter destination, long offset, long count, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset + count, Size);
        long end = offset + count;
        long lastProgress = _time.GetTimestamp();
        long longest = 0;
        while (offset < end)
        {
            long available = RandomAccess.GetLength(_handle);
            if (available < longest)
            {
                throw new IOException($"the download of {Digest} restarted (its file shrank from {longest} to {available} bytes)");
            }

            if (available > longest)
            {
                longest = available;
                lastProgress = _time.GetTimestamp();
            }

            if (available <= offset)
            {
                if (!File.Exists(_ingest.DataPath) && !File.Exists(_committedPath))
                {
                    throw new IOException($"the download of {Digest} was abandoned at {offset} of {Size} bytes");
                }

                if (_time.GetElapsedTime(lastProgress) > _stallLimit)
                {
                    throw new IOException($"the download of {Digest} made no progress for {_stallLimit.TotalSeconds:0} s");
                }

                await Task.Delay(PollInterval, _time, cancellationToken).ConfigureAwait(false);
                continue;
            }

            int want = (int)Math.Min(ChunkSize, Math.Min(available, end) - offset);
            Memory<byte> memory = destination.GetMemory(want);
            if (memory.Length > want)
            {
                memory = memory[..want];
            }

            int read = await RandomAccess.ReadAsync(_handle, memory, offset, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                await Task.Delay(PollInterval, _time, cancellationToken).ConfigureAwait(false);
                continue;
            }

            destination.Advance(read);
            offset += read;
            FlushResult flush = await destination.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (flush.IsCanceled || flush.IsCompleted)
            {
                throw new OperationCanceledException("the reader went away");
            }
        }
    }

    public override ValueTask DisposeAsync()
    {
        _handle.Dispose();
        return base.DisposeAsync();
    }
}
