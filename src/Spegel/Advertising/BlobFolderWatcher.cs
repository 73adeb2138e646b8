using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Spegel.Oci;
using Spegel.Store;

namespace Spegel.Advertising;

/// <summary>
/// Watches containerd's <c>blobs/sha256</c> folder (inotify): a committed blob is renamed into it the moment its
/// last byte is verified, long before containerd 1.6 sends any image event, and garbage collection deletes files
/// without any event. Emits candidate digests; the advertiser checks each against the store before acting.
/// </summary>
internal sealed partial class BlobFolderWatcher(string contentRoot, ChannelWriter<StoreEvent> output, ILogger logger) : IDisposable
{
    private FileSystemWatcher? _watcher;

    public bool Active => _watcher is not null;

    /// <summary>Starts watching when the folder exists (it appears with the first blob); true when watching.</summary>
    public bool TryStart()
    {
        if (_watcher is not null)
        {
            return true;
        }

        string folder = Path.Combine(contentRoot, "blobs", "sha256");
        if (!Directory.Exists(folder))
        {
            return false;
        }

        try
        {
            var watcher = new FileSystemWatcher(folder)
            {
                NotifyFilter = NotifyFilters.FileName,
                IncludeSubdirectories = false,
                InternalBufferSize = 256 * 1024,
            };
            watcher.Created += (_, e) => Emit(StoreEventKind.ContentCreated, e.Name);
            watcher.Renamed += (_, e) => Emit(StoreEventKind.ContentCreated, e.Name);
            watcher.Deleted += (_, e) => Emit(StoreEventKind.ContentDeleted, e.Name);
            watcher.Error += (_, e) =>
            {
                // Overflow: events were lost; a reconcile finds what changed.
                LogWatchError(logger, e.GetException().Message);
                output.TryWrite(new StoreEvent(StoreEventKind.ContentCreated, null, null));
            };
            watcher.EnableRaisingEvents = true;
            _watcher = watcher;
            LogWatching(logger, folder);
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            LogWatchError(logger, ex.Message);
            return false;
        }
    }

    private void Emit(StoreEventKind kind, string? name)
    {
        if (name is not null && Digest.TryParse("sha256:" + name, out var digest, out _))
        {
            output.TryWrite(new StoreEvent(kind, null, digest));
        }
    }

    public void Dispose() => _watcher?.Dispose();

    [LoggerMessage(EventId = 1701, Level = LogLevel.Information, Message = "Watching {Folder} for committed and deleted blobs")]
    private static partial void LogWatching(ILogger logger, string folder);

    [LoggerMessage(EventId = 1702, Level = LogLevel.Warning, Message = "Blob folder watch: {Reason}; reconciling with a full listing")]
    private static partial void LogWatchError(ILogger logger, string reason);
}
