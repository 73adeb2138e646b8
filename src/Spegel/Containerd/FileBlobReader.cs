using System.IO.Pipelines;
using Microsoft.Win32.SafeHandles;
using Spegel.Oci;
using Spegel.Store;

namespace Spegel.Containerd;

/// <summary>
/// Reads a committed blob from containerd's content directory. Reads land directly in the pipe's buffers (no extra
/// copy) and the kernel's page cache does the caching.
/// </summary>
internal sealed class FileBlobReader : BlobReader
{
    private const int ChunkSize = 256 * 1024;
    private readonly SafeFileHandle _handle;

    private FileBlobReader(Digest digest, long size, SafeFileHandle handle)
        : base(digest, size)
    {
        _handle = handle;
    }

    /// <summary>Opens the file, or returns null when it is missing, unreadable or shorter than containerd says.</summary>
    public static FileBlobReader? TryOpen(string path, Digest digest, long expectedSize)
    {
        try
        {
            var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.Asynchronous | FileOptions.SequentialScan);
            if (RandomAccess.GetLength(handle) != expectedSize)
            {
                handle.Dispose();
                return null;
            }

            return new FileBlobReader(digest, expectedSize, handle);
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
        while (offset < end)
        {
            int want = (int)Math.Min(ChunkSize, end - offset);
            Memory<byte> memory = destination.GetMemory(want);
            if (memory.Length > want)
            {
                memory = memory[..want];
            }

            int read = await RandomAccess.ReadAsync(_handle, memory, offset, cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new IOException($"{Digest} ended at {offset} of {Size} bytes: the file was truncated while being read");
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
